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


class _Cells:
    """Cells that repeat across rows, worked out once per export: periods, provider names, tags."""

    def __init__(self, billing: Quarter) -> None:
        self.billing = billing
        self.billing_period = (iso_utc(billing.start_at), iso_utc(billing.end_at))
        self._periods: dict[str, tuple[str, str]] = {billing.name: self.billing_period}
        self._providers: dict[str, str] = {}
        self._tags: dict[tuple, str] = {}

    def period(self, name: str) -> tuple[str, str]:
        if name not in self._periods:
            quarter = Quarter.parse(name)
            self._periods[name] = (iso_utc(quarter.start_at), iso_utc(quarter.end_at))
        return self._periods[name]

    def provider(self, kind: str) -> str:
        if kind not in self._providers:
            try:
                self._providers[kind] = provider_class(kind).display_name or kind
            except (KeyError, LookupError):
                self._providers[kind] = kind
        return self._providers[kind]

    def tags(self, line: Line) -> str:
        key = (line.cost_center_code, line.team_name, line.project_name, line.user_name, line.kind)
        if (found := self._tags.get(key)) is None:
            if len(self._tags) > 50_000:
                self._tags.clear()
            found = self._tags[key] = _tags(line)
        return found


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


def focus_row(line: Line, cells: _Cells) -> list:
    provider = cells.provider(line.provider)
    billing_start, billing_end = cells.billing_period
    charge_start, charge_end = cells.period(line.for_quarter)
    cost = money(line.cost_usd)
    tokens = line.tokens
    adjustment = line.is_adjustment
    return [
        cost,
        f"{line.provider}:{line.account_id}" if line.account_id is not None else line.provider,
        text(line.account_name or provider),
        CURRENCY,
        billing_start,
        billing_end,
        "Adjustment" if adjustment else "Usage",
        "Correction" if adjustment else "",
        text(_description(line)),
        charge_start,
        charge_end,
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
        cells.tags(line),
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
    cells = _Cells(quarter)
    rows: list[str] = [writer.writerow(COLUMNS)]
    for line in lines:
        rows.append(writer.writerow(focus_row(line, cells)))
        if len(rows) >= CHUNK_ROWS:
            yield "".join(rows)
            rows.clear()
    if rows:
        yield "".join(rows)
