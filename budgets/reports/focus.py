"""FOCUS 1.3 (FinOps Open Cost and Usage Specification) cost-and-usage CSV of a quarter's chargeback.

One FOCUS row per chargeback line (provider account × key × model × owner, for the quarter). The README's
Chargeback section documents what each column holds; in short: the billing period is the quarter being charged
back, the charge period the quarter the usage belongs to (an adjustment for a closed quarter keeps that quarter
as its charge period, ChargeCategory "Adjustment", ChargeClass "Correction"), all costs are the cost Allocator
holds (billed where the provider billed it), tokens are the consumed and pricing quantity.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from allocator.providers import provider_class
from allocator.quarters import Quarter
from budgets.reports.chargeback import Line
from budgets.reports.exports import CHUNK_ROWS, Echo, money, text

# The mandatory columns of FOCUS 1.3's cost-and-usage dataset (ProviderName and PublisherName are deprecated in
# 1.3 but still required), then the recommended ones we can fill honestly, then our own (x_ prefix).
MANDATORY = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ServiceProviderName",
    "HostProviderName",
]
OPTIONAL = [
    "ServiceSubcategory",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "SkuId",
    "Tags",
]
CUSTOM = [
    "x_CostCenter",
    "x_Team",
    "x_Project",
    "x_Person",
    "x_BuildOrRun",
    "x_CostSource",
    "x_UsageQuarter",
    "x_InputTokens",
    "x_CachedInputTokens",
    "x_CacheWriteTokens",
    "x_OutputTokens",
    "x_Requests",
]
COLUMNS = MANDATORY + OPTIONAL + CUSTOM

SERVICE_CATEGORY = "AI and Machine Learning"
SERVICE_SUBCATEGORY = "Generative AI"
CURRENCY = "USD"
TOKENS_UNIT = "Tokens"


def iso_utc(moment: datetime) -> str:
    """FOCUS date-times: ISO 8601 in UTC with a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _provider_name(kind: str, cache: dict[str, str]) -> str:
    if kind not in cache:
        try:
            cache[kind] = provider_class(kind).display_name or kind
        except (KeyError, LookupError):
            cache[kind] = kind
    return cache[kind]


def _tags(line: Line) -> str:
    tags = {"cost_center": line.cost_center_code, "team": line.team_name, "build_or_run": line.kind}
    if line.project_name:
        tags["project"] = line.project_name
    if line.user_name:
        tags["person"] = line.user_name
    return json.dumps({k: v for k, v in tags.items() if v}, sort_keys=True)


def _description(line: Line) -> str:
    who = " / ".join(part for part in (line.team_name, line.owner_label) if part)
    what = f"{line.model} tokens, key {line.key_name}" if line.key_id else f"{line.model} tokens, no key (unattributed)"
    prefix = f"Late usage of {line.for_quarter}: " if line.is_adjustment else ""
    return f"{prefix}{what} ({who})"


def focus_row(line: Line, *, billing: Quarter, names: dict[str, str]) -> list:
    provider = _provider_name(line.provider, names)
    charge = Quarter.parse(line.for_quarter) if line.for_quarter != billing.name else billing
    cost = money(line.cost_usd)
    tokens = line.tokens
    return [
        cost,
        f"{line.provider}:{line.account_id}" if line.account_id is not None else line.provider,
        text(line.account_name or provider),
        CURRENCY,
        iso_utc(billing.start_at),
        iso_utc(billing.end_at),
        "Adjustment" if line.is_adjustment else "Usage",
        "Correction" if line.is_adjustment else "",
        text(_description(line)),
        iso_utc(charge.start_at),
        iso_utc(charge.end_at),
        cost,
        cost,
        provider,
        cost,
        tokens,
        TOKENS_UNIT,
        provider,
        provider,
        SERVICE_CATEGORY,
        f"{provider} API",
        provider,
        provider,
        SERVICE_SUBCATEGORY,
        tokens,
        TOKENS_UNIT,
        f"key-{line.key_id}" if line.key_id is not None else "",
        text(line.key_name),
        "API key" if line.key_id is not None else "",
        text(line.model),
        _tags(line),
        text(line.cost_center_code),
        text(line.team_name),
        text(line.project_name),
        text(line.user_name),
        line.kind,
        line.source,
        line.for_quarter,
        line.input_tokens,
        line.cached_input_tokens,
        line.cache_write_tokens,
        line.output_tokens,
        "" if line.requests is None else line.requests,
    ]


def focus_csv(lines: Iterable[Line], *, quarter: Quarter) -> Iterator[str]:
    """The lines as a FOCUS 1.3 CSV, header first (null values are empty cells, as FOCUS CSVs carry them)."""
    writer = csv.writer(Echo())
    names: dict[str, str] = {}
    rows: list[str] = [writer.writerow(COLUMNS)]
    for line in lines:
        rows.append(writer.writerow(focus_row(line, billing=quarter, names=names)))
        if len(rows) >= CHUNK_ROWS:
            yield "".join(rows)
            rows.clear()
    if rows:
        yield "".join(rows)
