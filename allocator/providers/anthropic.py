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

from allocator.providers import capacity
from allocator.providers.base import (
    Capabilities,
    CostRow,
    FeatureUnavailable,
    IncreaseRequest,
    OptionSpec,
    Provider,
    ProviderError,
    RemoteKey,
    ScopeLimit,
    UsageRow,
    parse_time,
    token_count,
    whole_cents,
)

API_VERSION = "2023-06-01"
PAGE_SIZE = 100
HOUR_BUCKETS_PER_PAGE = 168  # the documented maximum for bucket_width=1h
DAY_BUCKETS_PER_PAGE = 31
USAGE_GROUP_BY = ("api_key_id", "model", "workspace_id")
STATUS_MAP = {"active": "active", "inactive": "suspended", "archived": "revoked", "expired": "expired"}
# Keys and usage in the organization's default workspace report workspace_id null.
DEFAULT_WORKSPACE = "default"
SPEND_LIMITS = "/v1/organizations/spend_limits"
INCREASE_REQUESTS = "/v1/organizations/spend_limit_increase_requests"
UNAVAILABLE = "not available for this organization"
RATE_LIMITS = "/v1/organizations/rate_limits"
MINUTE_BUCKETS_PER_PAGE = 1440  # the documented maximum for bucket_width=1m
MINUTE_GROUP_BY = ("model", "workspace_id")
# Limiter types of the model groups (provider-apis.md §2.5, §8) and the dimension each one limits.
LIMITER_TYPES = {
    "requests_per_minute": capacity.REQUESTS_PER_MINUTE,
    "input_tokens_per_minute": capacity.INPUT_TOKENS_PER_MINUTE,
    "output_tokens_per_minute": capacity.OUTPUT_TOKENS_PER_MINUTE,
}


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _workspace_of(item: dict[str, Any]) -> str | None:
    """The key's workspace: `scope.workspace_id` (current), else the deprecated `workspace_id`."""
    scope = item.get("scope") or {}
    if isinstance(scope, dict) and scope.get("type") == "workspace" and scope.get("workspace_id"):
        return scope["workspace_id"]
    return item.get("workspace_id")


def _minor_units(value: Any) -> Decimal:
    if not isinstance(value, str) or not value.isdigit():
        raise ValueError("amount is not an integer string")
    return Decimal(value) / 100


def _spend_limit(item: dict[str, Any]) -> ScopeLimit:
    return ScopeLimit(amount_usd=_minor_units(item["amount"]), status="enforcing", interval=item.get("period", ""))


def _increase_request(item: dict[str, Any]) -> IncreaseRequest:
    requester = item.get("requester") or {}
    amount = item.get("requested_amount")
    created = item.get("created_at")
    return IncreaseRequest(
        request_id=str(item["id"]),
        requester=str(requester.get("email") or requester.get("name") or "someone"),
        amount_usd=_minor_units(amount) if amount is not None else None,
        reason=str(item.get("reason") or ""),
        status=str(item.get("status") or "pending"),
        created_at=parse_time(created) if created else None,
    )


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
        caps_scope_spend=True,
        increase_requests=True,
        rate_limits=True,
        minute_usage=True,
    )
    usage_bucket_width = "1h"
    scope_noun = "workspace"
    scope_container_field = "workspace_id"
    recent_usage_calls = 2  # usage report, cost report

    display_name = "Anthropic"
    client_base_url = "https://api.anthropic.com"
    credential_label = "Admin API key"
    credential_help = (
        "An Admin API key (sk-ant-admin…), made by an organization admin in the Claude Console under "
        "Settings → Admin keys. Anthropic cannot create keys by API: make keys in the Console, then import them."
    )
    option_specs = (
        OptionSpec(
            name="scope_per",
            label="One workspace per",
            kind="choice",
            choices=(("", "none"), ("team", "team"), ("project", "Allocator project")),
            help=(
                "When each team's (or project's) keys live in a workspace of their own, Allocator keeps that "
                "workspace's monthly spend limit (Spend Limits API, beta) at what its tightest hard budget still "
                "allows. Organizations without the feature show it as not available."
            ),
        ),
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
            provider_data={"workspace_id": _workspace_of(item)},
        )

    # --- scope caps: Spend Limits (beta, provider-apis.md §8) --------------------------------------
    def _limits_call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A Spend Limits call; 403/404 mean the organization does not have the feature (a state, not an error)."""
        try:
            return self.http.request(method, path, **kwargs)
        except ProviderError as e:
            if e.status in (403, 404):
                raise FeatureUnavailable(f"Anthropic spend limits are {UNAVAILABLE}", status=e.status) from e
            raise

    def scope_limit_get(self, *, scope_id: str) -> ScopeLimit | None:
        body = self._limits_call(
            "GET", SPEND_LIMITS + "/effective", params={"scope_type": "workspace", "workspace_id": scope_id}
        )
        try:
            monthly = [item for item in body["data"] if item.get("period") == "monthly"]
            return _spend_limit(monthly[0]) if monthly else None
        except (KeyError, TypeError, AttributeError, ArithmeticError, ValueError) as e:
            raise ProviderError("Anthropic sent a malformed effective spend limit") from e

    def scope_limit_set(self, *, scope_id: str, amount_usd: Decimal) -> ScopeLimit:
        """Upsert the workspace's monthly limit; `amount` is an integer string in minor units (cents)."""
        payload = {
            "scope": {"type": "workspace", "workspace_id": scope_id},
            "period": "monthly",
            "amount": str(whole_cents(amount_usd)),
            "currency": "USD",
        }
        body = self._limits_call("POST", SPEND_LIMITS, json=payload)
        try:
            return _spend_limit(body)
        except (KeyError, TypeError, AttributeError, ArithmeticError, ValueError) as e:
            raise ProviderError("Anthropic sent a malformed spend limit") from e

    def scope_limit_remove(self, *, scope_id: str) -> None:
        """Upserting the (scope, period) pair with a null amount clears it."""
        payload = {"scope": {"type": "workspace", "workspace_id": scope_id}, "period": "monthly", "amount": None}
        self._limits_call("POST", SPEND_LIMITS, json=payload)

    # --- spend-limit increase requests (Claude Enterprise) -----------------------------------------
    def increase_requests_list(self) -> list[IncreaseRequest]:
        """Pending requests, followed page by page; 403/404 = the organization has no such requests."""
        try:
            items = list(self.listed(INCREASE_REQUESTS, {"status": "pending"}, after="after_id", limit=PAGE_SIZE))
        except ProviderError as e:
            if e.status in (403, 404):
                raise FeatureUnavailable(f"Spend-limit increase requests are {UNAVAILABLE}", status=e.status) from e
            raise
        try:
            return [_increase_request(item) for item in items]
        except (KeyError, TypeError, AttributeError, ArithmeticError, ValueError) as e:
            raise ProviderError("Anthropic sent a malformed spend-limit increase request") from e

    def increase_request_decide(self, *, request_id: str, approve: bool, amount_usd: Decimal | None = None) -> None:
        if approve:
            payload = {"amount": str(whole_cents(amount_usd))} if amount_usd is not None else {}
            self.http.request("POST", f"{INCREASE_REQUESTS}/{request_id}/approve", json=payload)
        else:
            self.http.request("POST", f"{INCREASE_REQUESTS}/{request_id}/deny", json={})

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

    # --- capacity (provider-apis.md §2.3, §2.5, §8) -------------------------------------------------
    def rate_limits(self, *, scope_ids: tuple[str, ...] = ()) -> list[capacity.RateLimit]:
        """The organization's model-group limiters, then each workspace's (inherited ones included, so a workspace
        without overrides still shows what binds it). The default workspace has no id of its own here."""
        sources = [(RATE_LIMITS, [], capacity.ORGANIZATION)] + [
            (f"/v1/organizations/workspaces/{ws}/rate_limits", [("include_inherited", "true")], ws)
            for ws in scope_ids
            if ws and ws != DEFAULT_WORKSPACE
        ]
        limits: list[capacity.RateLimit] = []
        for path, params, scope in sources:
            for entries in self.report_pages(path, params):
                try:
                    limits += [limit for entry in entries for limit in _limiters(entry, scope)]
                except (AttributeError, KeyError, TypeError, ValueError) as e:
                    raise ProviderError("Anthropic sent a malformed rate limit entry") from e
        return limits

    def minute_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        """Message usage per minute, model and workspace (the workspace is the row's scope)."""
        params: list[tuple[str, Any]] = [
            ("starting_at", _rfc3339(start)),
            ("ending_at", _rfc3339(end)),
            ("bucket_width", "1m"),
            *[("group_by[]", dim) for dim in MINUTE_GROUP_BY],
            ("limit", MINUTE_BUCKETS_PER_PAGE),
        ]
        path = "/v1/organizations/usage_report/messages"
        for rows in self.report_rows(path, params, self._usage_rows, what="minute usage"):
            for row in rows:
                row.bucket_width = "1m"
                row.dimensions = {"scope": row.dimensions["workspace_id"]}
            yield rows

    def limit_counts(self, row: UsageRow) -> capacity.MinuteCounts:
        """Cached reads do not count toward input tokens per minute (most models; still billed); there are no
        request counts; output limiters reserve max_tokens at request start, so output seen is a lower bound."""
        counted_input = row.input_tokens - row.cached_input_tokens
        return capacity.MinuteCounts(
            requests=None,
            tokens=counted_input + row.output_tokens,
            input_tokens=counted_input,
            output_tokens=row.output_tokens,
        )


def _limiters(entry: dict[str, Any], scope: str) -> list[capacity.RateLimit]:
    """The per-model limiters of one entry; other group types (batch, token count) limit what minute usage does not
    show."""
    if entry.get("group_type", "model_group") != "model_group":
        return []
    models = entry["models"]
    if not isinstance(models, list):
        raise TypeError("models is not a list")
    out = []
    for limiter in entry["limits"]:
        dimension = LIMITER_TYPES.get(limiter["type"])
        if dimension is None:
            continue
        org_limit = limiter.get("org_limit")
        for model in models:
            out.append(
                capacity.RateLimit(
                    model=str(model),
                    dimension=dimension,
                    value=token_count(limiter["value"]),
                    scope=scope,
                    org_limit=token_count(org_limit) if org_limit is not None else None,
                )
            )
    return out
