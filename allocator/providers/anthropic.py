"""Anthropic adapter: Admin API (API keys, messages usage report, cost report).

The Admin API cannot create or delete keys: admins make keys in the Console and Allocator imports them
(list_keys), then suspends (`inactive`), reinstates (`active`) or revokes (`archived`) them by status.
The usage report has no request counts, and the cost report has no per-key grain.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from allocator.providers.base import (
    Capabilities,
    CostRow,
    Provider,
    ProviderError,
    RemoteKey,
    UsageRow,
    parse_time,
    token_count,
)

API_VERSION = "2023-06-01"
PAGE_SIZE = 100
HOUR_BUCKETS_PER_PAGE = 168  # the documented maximum for bucket_width=1h
DAY_BUCKETS_PER_PAGE = 31
USAGE_GROUP_BY = ("api_key_id", "model", "workspace_id")
STATUS_MAP = {"active": "active", "inactive": "suspended", "archived": "revoked", "expired": "expired"}
# Keys and usage in the organization's default workspace report workspace_id null.
DEFAULT_WORKSPACE = "default"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AnthropicProvider(Provider):
    kind = "anthropic"
    default_base_url = "https://api.anthropic.com"
    capabilities = Capabilities(
        mint=False,
        suspend=True,
        revoke=True,
        list_keys=True,
        usage=True,
        cost=True,
        per_key_cost=False,
        request_counts=False,
    )
    usage_bucket_width = "1h"

    display_name = "Anthropic"
    client_base_url = "https://api.anthropic.com"
    credential_label = "Admin API key"
    credential_help = (
        "An Admin API key (sk-ant-admin…), made by an organization admin in the Claude Console under "
        "Settings → Admin keys. Anthropic cannot create keys by API: make keys in the Console, then import them."
    )

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.credential, "anthropic-version": API_VERSION}

    # --- credential check -------------------------------------------------------------------------
    def check_connection(self) -> str:
        body = self.http.request("GET", "/v1/organizations/me")
        name = body.get("name") if isinstance(body, dict) else None
        return f"Connected to {name or 'Anthropic organization'}"

    # --- keys -------------------------------------------------------------------------------------
    def _set_status(self, provider_key_id: str, status: str) -> None:
        self.http.request("POST", f"/v1/organizations/api_keys/{provider_key_id}", json={"status": status})

    def suspend_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        self._set_status(provider_key_id, "inactive")

    def reinstate_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        """Reactivate the same key (the secret does not change), so nothing new is returned."""
        self._set_status(provider_key_id, "active")
        return None

    def revoke_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        """Archive the key: the Admin API has no delete, and archiving is the end state."""
        self._set_status(provider_key_id, "archived")

    def list_keys(self) -> list[RemoteKey]:
        """Every key in the organization, followed page by page with `after_id=<last_id>`."""
        items = self.listed("/v1/organizations/api_keys", {}, after="after_id", limit=PAGE_SIZE)
        try:
            return [self._remote_key(item) for item in items]
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise ProviderError("Anthropic sent a malformed API key object") from e

    def _remote_key(self, item: dict[str, Any]) -> RemoteKey:
        created = item.get("created_at")
        return RemoteKey(
            provider_key_id=item["id"],
            name=item.get("name") or "",
            hint=item.get("partial_key_hint") or "",
            status=STATUS_MAP.get(item.get("status"), "suspended"),
            created_at=parse_time(created) if created else None,
            provider_data={"workspace_id": item.get("workspace_id")},
        )

    # --- usage ------------------------------------------------------------------------------------
    def pull_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        """Hourly message usage per key, model and workspace, one list per page.

        `requests` is None on every row: the report has no request count (show "n/a", never 0).
        """
        path = "/v1/organizations/usage_report/messages"
        params: list[tuple[str, Any]] = [
            ("starting_at", _rfc3339(start)),
            ("ending_at", _rfc3339(end)),
            ("bucket_width", "1h"),
            *[("group_by[]", dim) for dim in USAGE_GROUP_BY],
            ("limit", HOUR_BUCKETS_PER_PAGE),
        ]
        yield from self.report_rows(path, params, self._usage_rows, what="usage")

    def _usage_rows(self, bucket: dict[str, Any]) -> list[UsageRow]:
        bucket_start = parse_time(bucket["starting_at"])
        results = bucket["results"]
        if not isinstance(results, list):
            raise TypeError("results is not a list")
        rows = []
        for result in results:
            cache_creation = result.get("cache_creation") or {}
            write_5m = token_count(cache_creation.get("ephemeral_5m_input_tokens"))
            write_1h = token_count(cache_creation.get("ephemeral_1h_input_tokens"))
            cache_read = token_count(result.get("cache_read_input_tokens"))
            rows.append(
                UsageRow(
                    bucket_start=bucket_start,
                    bucket_width="1h",
                    provider_key_id=result.get("api_key_id"),  # null for Console/Workbench usage
                    model=result.get("model") or "unknown",
                    # Unlike OpenAI, uncached_input_tokens excludes the cache; UsageRow wants the total.
                    input_tokens=token_count(result["uncached_input_tokens"]) + cache_read + write_5m + write_1h,
                    cached_input_tokens=cache_read,
                    cache_write_tokens=write_5m + write_1h,
                    cache_write_1h_tokens=write_1h,
                    output_tokens=token_count(result.get("output_tokens")),
                    requests=None,
                    dimensions={"workspace_id": result.get("workspace_id") or DEFAULT_WORKSPACE},
                )
            )
        return rows

    def pull_cost(self, *, start: datetime, end: datetime) -> Iterator[list[CostRow]]:
        """Daily billed cost per workspace. Amounts arrive as decimal strings in cents."""
        path = "/v1/organizations/cost_report"
        params: list[tuple[str, Any]] = [
            ("starting_at", _rfc3339(start)),
            ("ending_at", _rfc3339(end)),
            ("bucket_width", "1d"),
            ("group_by[]", "workspace_id"),
            ("limit", DAY_BUCKETS_PER_PAGE),
        ]
        yield from self.report_rows(path, params, self._cost_rows, what="cost")

    def _cost_rows(self, bucket: dict[str, Any]) -> list[CostRow]:
        day_start = parse_time(bucket["starting_at"])
        return [
            CostRow(
                day_start=day_start,
                amount_usd=Decimal(str(result["amount"])) / 100,
                dimensions={"workspace_id": result.get("workspace_id") or DEFAULT_WORKSPACE},
            )
            for result in bucket["results"]
        ]
