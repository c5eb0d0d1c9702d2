"""Emulator of the Anthropic Admin API (provider-apis.md section 2).

Seed state with `add_key`, `add_usage` and `add_cost`. Key lists page with `limit`/`after_id`/
`has_more`/`last_id`; reports page with an opaque `page`/`next_page` token, `limit` counting buckets.
Keys cannot be created or deleted, only have their `name`/`status` changed, as in the real API.
"""

from __future__ import annotations

import itertools
import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.emulators.anthropic_capacity import RateLimitsMixin
from tests.emulators.anthropic_caps import SpendLimitsMixin
from tests.emulators.base import (
    BUCKET_LIMITS,
    BUCKET_SECONDS,
    Emulator,
    EmulatorError,
    RecordedRequest,
    Reply,
    as_timestamp,
    bucket_page,
    int_param,
    json_reply,
    rfc3339,
)

ORG = "/v1/organizations"
USAGE_GROUPS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "account_id",
    "service_account_id",
    "speed",
)
USAGE_FILTERS = {  # query parameter -> dimension
    "api_key_ids": "api_key_id",
    "workspace_ids": "workspace_id",
    "models": "model",
    "service_tiers": "service_tier",
    "context_window": "context_window",
}
USAGE_COUNTS = (
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "ephemeral_5m_input_tokens",
    "ephemeral_1h_input_tokens",
    "output_tokens",
    "web_search_requests",
)
COST_GROUPS = ("workspace_id", "description")
COST_DESCRIPTION_FIELDS = (
    "cost_type",
    "model",
    "service_tier",
    "token_type",
    "context_window",
    "inference_geo",
)
KEY_STATUSES = ("active", "inactive", "archived")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _parse_time(request: RecordedRequest, name: str, required: bool) -> int | None:
    raw = request.query_value(name)
    if raw is None:
        if required:
            raise EmulatorError(400, f"{name}: Field required")
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as e:
        raise EmulatorError(400, f"{name}: Input should be a valid RFC 3339 datetime") from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class AnthropicEmulator(SpendLimitsMixin, RateLimitsMixin, Emulator):
    base_path = ""
    credential = "sk-ant-admin01-emulator-0123456789"
    name = "anthropic-emulator"
    version = "2023-06-01"

    def __init__(self, credential: str | None = None, org_name: str = "Emulated Org") -> None:
        super().__init__(credential)
        self._ids = itertools.count(1)
        self.org = {"id": "org_emulated", "type": "organization", "name": org_name}
        self.keys: dict[str, dict[str, Any]] = {}
        self.usage: list[dict[str, Any]] = []
        self.costs: list[dict[str, Any]] = []

        self.route("GET", ORG + "/me", lambda request: json_reply(self.org))
        self.route("GET", ORG + "/api_keys", self._list_keys)
        self.route("GET", ORG + r"/api_keys/(?P<key_id>[^/]+)", self._get_key)
        self.route("POST", ORG + r"/api_keys/(?P<key_id>[^/]+)", self._update_key)
        self.route("GET", ORG + "/usage_report/messages", self._usage)
        self.route("GET", ORG + "/cost_report", self._costs)
        self.install_caps()
        self.install_rate_limits()

    # --- seeding helpers ------------------------------------------------------------------------------
    def add_key(
        self,
        name: str = "key",
        *,
        key_id: str | None = None,
        workspace_id: str | None = None,
        status: str = "active",
        partial_key_hint: str | None = None,
        created_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Add an API key (as if made in the Console); returns the key object."""
        key_id = key_id or f"apikey_{next(self._ids):04d}"
        key = {
            "id": key_id,
            "type": "api_key",
            "name": name,
            "workspace_id": workspace_id,
            "created_at": rfc3339(as_timestamp(created_at or datetime.now(UTC))),
            "created_by": {"id": "user_emulated", "type": "user"},
            "partial_key_hint": partial_key_hint or f"sk-ant-api03-{secrets.token_hex(2)}...{secrets.token_hex(2)}",
            "status": status,
            "expires_at": rfc3339(as_timestamp(expires_at)) if expires_at else None,
        }
        with self.lock:
            self.keys[key_id] = key
        return key

    def add_usage(
        self,
        bucket_start: datetime | int,
        *,
        api_key_id: str | None = None,
        model: str | None = None,
        workspace_id: str | None = None,
        service_tier: str | None = "standard",
        context_window: str | None = "0-200k",
        uncached_input_tokens: int = 0,
        cache_read_input_tokens: int = 0,
        cache_creation_5m_input_tokens: int = 0,
        cache_creation_1h_input_tokens: int = 0,
        output_tokens: int = 0,
        web_search_requests: int = 0,
    ) -> None:
        """Record message usage at a moment (it lands in whichever bucket contains it)."""
        with self.lock:
            self.usage.append(
                {
                    "ts": as_timestamp(bucket_start),
                    "dims": {
                        "api_key_id": api_key_id,
                        "workspace_id": workspace_id,
                        "model": model,
                        "service_tier": service_tier,
                        "context_window": context_window,
                        "inference_geo": None,
                        "account_id": None,
                        "service_account_id": None,
                        "speed": None,
                    },
                    "counts": {
                        "uncached_input_tokens": uncached_input_tokens,
                        "cache_read_input_tokens": cache_read_input_tokens,
                        "ephemeral_5m_input_tokens": cache_creation_5m_input_tokens,
                        "ephemeral_1h_input_tokens": cache_creation_1h_input_tokens,
                        "output_tokens": output_tokens,
                        "web_search_requests": web_search_requests,
                    },
                }
            )

    def add_cost(
        self,
        day: datetime | int,
        amount_cents: str | Decimal,
        *,
        workspace_id: str | None = None,
        description: str | None = None,
        cost_type: str | None = "tokens",
        model: str | None = None,
        service_tier: str | None = None,
        token_type: str | None = None,
    ) -> None:
        """Record billed cost on a day, in cents (reported back as a decimal string)."""
        with self.lock:
            self.costs.append(
                {
                    "ts": as_timestamp(day),
                    "amount": Decimal(str(amount_cents)),
                    "dims": {"workspace_id": workspace_id, "description": description},
                    "details": {
                        "cost_type": cost_type,
                        "model": model,
                        "service_tier": service_tier,
                        "token_type": token_type,
                        "context_window": None,
                        "inference_geo": None,
                    },
                }
            )

    # --- protocol -------------------------------------------------------------------------------------
    def check_auth(self, request: RecordedRequest) -> None:
        given = request.headers.get("x-api-key")
        if not given:
            raise EmulatorError(401, "x-api-key header is required")
        if not secrets.compare_digest(given, self.credential):
            raise EmulatorError(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise EmulatorError(400, "anthropic-version: header is required")

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        error_type = code or ERROR_TYPES.get(status, "api_error")
        return json_reply(
            {
                "type": "error",
                "error": {"type": error_type, "message": message},
                "request_id": f"req_{secrets.token_hex(8)}",
            },
            status,
        )

    # --- API keys -------------------------------------------------------------------------------------
    def _list_keys(self, request: RecordedRequest) -> Reply:
        limit = int_param(request, "limit", 20, 1, 1000)
        items = list(self.keys.values())
        if status := request.query_value("status"):
            items = [k for k in items if k["status"] == status]
        if workspace_id := request.query_value("workspace_id"):
            items = [k for k in items if k["workspace_id"] == workspace_id]
        ids = [k["id"] for k in items]
        after_id, before_id = request.query_value("after_id"), request.query_value("before_id")
        if after_id and before_id:
            raise EmulatorError(400, "Only one of after_id and before_id may be given")
        if after_id:
            if after_id not in ids:
                raise EmulatorError(400, f"after_id: unknown id {after_id}")
            start = ids.index(after_id) + 1
            data, has_more = items[start : start + limit], start + limit < len(items)
        elif before_id:
            if before_id not in ids:
                raise EmulatorError(400, f"before_id: unknown id {before_id}")
            stop = ids.index(before_id)
            data, has_more = items[max(0, stop - limit) : stop], stop - limit > 0
        else:
            data, has_more = items[:limit], limit < len(items)
        return json_reply(
            {
                "data": data,
                "has_more": has_more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    def _key(self, key_id: str) -> dict[str, Any]:
        key = self.keys.get(key_id)
        if key is None:
            raise EmulatorError(404, f"API key {key_id} not found")
        return key

    def _get_key(self, request: RecordedRequest, key_id: str) -> Reply:
        return json_reply(self._key(key_id))

    def _update_key(self, request: RecordedRequest, key_id: str) -> Reply:
        key = self._key(key_id)
        body = request.json
        if not isinstance(body, dict) or set(body) - {"name", "status"}:
            raise EmulatorError(400, "Body may only contain 'name' and 'status'")
        status = body.get("status")
        if status is not None and status not in KEY_STATUSES:
            raise EmulatorError(400, "status: Input should be 'active', 'inactive' or 'archived'")
        if key["status"] == "archived" and status not in (None, "archived"):
            raise EmulatorError(400, "Archived API keys cannot be changed")
        if key["status"] == "expired" and status is not None:
            raise EmulatorError(400, "Expired API keys cannot be changed")
        if "name" in body:
            key["name"] = body["name"]
        if status is not None:
            key["status"] = status
        return json_reply(key)

    # --- reports --------------------------------------------------------------------------------------
    def _window(
        self, request: RecordedRequest, widths: tuple[str, ...], limits: dict[str, tuple[int, int]]
    ) -> tuple[int, int, int, list[int], str | None]:
        start = _parse_time(request, "starting_at", required=True)
        end = _parse_time(request, "ending_at", required=False) or int(time.time())
        assert start is not None
        width_name = request.query_value("bucket_width", "1d")
        if width_name not in widths:
            raise EmulatorError(400, f"bucket_width: Input should be one of {', '.join(widths)}")
        width = BUCKET_SECONDS[width_name]
        default, high = limits[width_name]
        limit = int_param(request, "limit", default, 1, high)
        page, next_token = bucket_page(start, end, width, limit, request.query_value("page"))
        return start, end, width, page, next_token

    def _usage(self, request: RecordedRequest) -> Reply:
        group_by = request.query_list("group_by")
        for dim in group_by:
            if dim not in USAGE_GROUPS:
                raise EmulatorError(400, f"group_by: invalid value {dim!r}")
        filters = {dim: request.query_list(param) for param, dim in USAGE_FILTERS.items()}
        start, end, width, starts, next_token = self._window(request, ("1m", "1h", "1d"), BUCKET_LIMITS)
        records = [
            r
            for r in self.usage
            if start <= r["ts"] < end and all(not v or r["dims"][dim] in v for dim, v in filters.items())
        ]
        data = []
        for bucket in starts:
            groups: dict[tuple, dict[str, int]] = {}
            for r in records:
                if bucket <= r["ts"] < bucket + width:
                    group = tuple(r["dims"][dim] if dim in group_by else None for dim in USAGE_GROUPS)
                    totals = groups.setdefault(group, dict.fromkeys(USAGE_COUNTS, 0))
                    for name in USAGE_COUNTS:
                        totals[name] += r["counts"][name]
            results = [
                {
                    **dict(zip(USAGE_GROUPS, group, strict=True)),
                    "uncached_input_tokens": totals["uncached_input_tokens"],
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": totals["ephemeral_5m_input_tokens"],
                        "ephemeral_1h_input_tokens": totals["ephemeral_1h_input_tokens"],
                    },
                    "cache_read_input_tokens": totals["cache_read_input_tokens"],
                    "output_tokens": totals["output_tokens"],
                    "server_tool_use": {"web_search_requests": totals["web_search_requests"]},
                }
                for group, totals in sorted(groups.items(), key=lambda item: repr(item[0]))
            ]
            data.append({"starting_at": rfc3339(bucket), "ending_at": rfc3339(bucket + width), "results": results})
        return json_reply({"data": data, "has_more": next_token is not None, "next_page": next_token})

    def _costs(self, request: RecordedRequest) -> Reply:
        group_by = request.query_list("group_by")
        for dim in group_by:
            if dim not in COST_GROUPS:
                raise EmulatorError(400, f"group_by: invalid value {dim!r}")
        workspace_filter = request.query_list("workspace_ids")
        start, end, width, starts, next_token = self._window(request, ("1d",), {"1d": (7, 31)})
        records = [
            r
            for r in self.costs
            if start <= r["ts"] < end and (not workspace_filter or r["dims"]["workspace_id"] in workspace_filter)
        ]
        by_description = "description" in group_by
        data = []
        for bucket in starts:
            groups: dict[tuple, Decimal] = {}
            for r in records:
                if bucket <= r["ts"] < bucket + width:
                    group = tuple(r["dims"][dim] if dim in group_by else None for dim in COST_GROUPS)
                    if by_description:
                        group += tuple(r["details"][name] for name in COST_DESCRIPTION_FIELDS)
                    groups[group] = groups.get(group, Decimal(0)) + r["amount"]
            results = []
            for group, amount in sorted(groups.items(), key=lambda item: repr(item[0])):
                result: dict[str, Any] = {
                    "amount": format(amount, "f"),
                    "currency": "USD",
                    **dict(zip(COST_GROUPS, group[: len(COST_GROUPS)], strict=True)),
                }
                if by_description:
                    result.update(zip(COST_DESCRIPTION_FIELDS, group[len(COST_GROUPS) :], strict=True))
                results.append(result)
            data.append({"starting_at": rfc3339(bucket), "ending_at": rfc3339(bucket + width), "results": results})
        return json_reply({"data": data, "has_more": next_token is not None, "next_page": next_token})
