"""Claude Code connector: the Anthropic Admin API's Claude Code usage report.

`GET /v1/organizations/usage_report/claude_code?starting_at=YYYY-MM-DD` answers one UTC day, paged with the opaque
`page` cursor (`limit` at most 1000). A row is one actor on that day: `user_actor` (`email_address`) or
`api_actor` (`api_key_name`), `customer_type` `api` or `subscription`, `core_metrics` and `model_breakdown`
(tokens and `estimated_cost.amount` in cents). API customers' use is billed through their API keys, which the
Anthropic account's own usage sync already counts: such rows are stored with `counted_via_key`, never counted twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from allocator.providers.anthropic import API_VERSION
from allocator.providers.base import Capabilities, token_count
from allocator.providers.coding import (
    API_KEY,
    BUDGET_POLICY_OPTION,
    PERSON,
    CodingToolProvider,
    CodingUsageRow,
)

REPORT = "/v1/organizations/usage_report/claude_code"
PAGE_SIZE = 1000  # the documented maximum


def _cents(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("estimated cost is not a number")
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0:
        raise ValueError("estimated cost out of range")
    return amount / 100


def _count(value: Any) -> int | None:
    return None if value is None else token_count(value)


class ClaudeCodeProvider(CodingToolProvider):
    kind = "claude_code"
    display_name = "Claude Code"
    default_base_url = "https://api.anthropic.com"
    capabilities = Capabilities(coding_usage=True, request_counts=False)
    credential_label = "Anthropic Admin API key"
    credential_help = (
        "An Admin API key (sk-ant-admin…) of the organization: Claude Console → Settings → Admin keys "
        "(organization admins only)."
    )
    option_specs = (BUDGET_POLICY_OPTION,)

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.credential, "anthropic-version": API_VERSION}

    def check_connection(self) -> str:
        today = datetime.now(UTC).date().isoformat()
        self.http.request("GET", REPORT, params={"starting_at": today, "limit": 1})
        return "Connected: the Claude Code usage report answers."

    def pull_coding_day(self, *, day: date) -> Iterator[list[CodingUsageRow]]:
        params = [("starting_at", day.isoformat()), ("limit", int(self.options.get("page_size", PAGE_SIZE)))]
        yield from self.report_rows(REPORT, params, lambda row: self._rows(row, day), what="Claude Code usage")

    def _rows(self, item: dict[str, Any], day: date) -> list[CodingUsageRow]:
        actor = item["actor"]
        if actor["type"] == "user_actor":
            identity, kind, email = str(actor["email_address"]), PERSON, str(actor["email_address"])
        elif actor["type"] == "api_actor":
            identity, kind, email = str(actor["api_key_name"]), API_KEY, ""
        else:
            raise ValueError(f"unknown actor type {actor['type']!r}")
        customer_type = str(item.get("customer_type") or "")
        via_key = customer_type == "api"
        metrics = item.get("core_metrics") or {}
        lines = metrics.get("lines_of_code") or {}
        accepted = [(action or {}).get("accepted") for action in (item.get("tool_actions") or {}).values()]
        common = {"day": day, "identity": identity, "identity_kind": kind, "email": email,
                  "customer_type": customer_type, "counted_via_key": via_key}  # fmt: skip
        outcomes = CodingUsageRow(
            **common,
            sessions=_count(metrics.get("num_sessions")),
            lines_added=_count(lines.get("added")),
            lines_removed=_count(lines.get("removed")),
            commits=_count(metrics.get("commits_by_claude_code")),
            pull_requests=_count(metrics.get("pull_requests_by_claude_code")),
            accepted_suggestions=sum(token_count(n) for n in accepted) if accepted else None,
        )
        rows = [outcomes]
        for entry in item.get("model_breakdown") or []:
            tokens, cost = entry.get("tokens") or {}, entry.get("estimated_cost") or {}
            if cost and cost.get("currency", "USD") != "USD":
                raise ValueError(f"estimated cost in {cost.get('currency')!r}, not USD")
            rows.append(
                CodingUsageRow(
                    **common,
                    model=str(entry["model"])[:128],
                    input_tokens=token_count(tokens.get("input")),
                    output_tokens=token_count(tokens.get("output")),
                    cache_read_tokens=token_count(tokens.get("cache_read")),
                    cache_creation_tokens=token_count(tokens.get("cache_creation")),
                    cost_usd=_cents(cost.get("amount", 0)),
                )
            )
        return rows
