"""OpenRouter adapter: key management API with a management (provisioning) key.

OpenRouter enforces a dollar `limit` on each key itself and reports usage in USD per key, so no price
table is needed. Per-model detail comes from GET /activity, which only covers the last 30 completed
UTC days; the current day is known only as each key's running `usage_daily` figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from allocator.providers.base import (
    Capabilities,
    MintedKey,
    OptionSpec,
    Provider,
    ProviderError,
    RemoteKey,
    ScopeLimit,
    UsageRow,
    parse_time,
    token_count,
)

PAGE_SIZE = 100  # GET /keys pages by offset, 100 keys at a time
ACTIVITY_DAYS = 30
DAY = timedelta(days=1)
TODAY_MODEL = "openrouter/today"  # the live, model-less figure for the current UTC day


def _money(value: Any) -> Decimal:
    if value is None or isinstance(value, bool):
        raise TypeError("expected a number")
    return Decimal(str(value))


def _day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class OpenRouterProvider(Provider):
    kind = "openrouter"
    default_base_url = "https://openrouter.ai/api/v1"
    capabilities = Capabilities(
        mint=True,
        suspend=True,
        revoke=True,
        list_keys=True,
        provider_limit=True,
        usage=True,
        cost=False,
        per_key_cost=True,
        request_counts=True,
        caps_scope_spend=True,
        restricts_models=True,
    )
    usage_bucket_width = "1d"
    scope_noun = "guardrail"
    creates_scope_containers = True
    recent_usage_calls = 1  # GET /keys carries each key's live usage_daily
    usage_history_days = ACTIVITY_DAYS  # /activity serves the last 30 completed UTC days only
    replace_only_seen_keys = True  # deleted keys are no longer listed, and their history goes with them

    display_name = "OpenRouter"
    client_base_url = "https://openrouter.ai/api/v1"
    credential_label = "Management key"
    credential_help = (
        "A management (provisioning) key, made at openrouter.ai under Settings → Management keys (older name: "
        "Provisioning keys). It can create, cap and disable keys, but cannot call models itself."
    )
    option_specs = (
        OptionSpec(
            name="scope_per",
            label="One guardrail per",
            kind="choice",
            choices=(("", "none (per-key limits only)"), ("team", "team"), ("project", "Allocator project")),
            help=(
                "Besides each key's own limit, Allocator keeps one guardrail per team (or project) over all its keys: "
                "a monthly budget at what the tightest hard budget still allows, and the model allow-list when "
                "the scope is degraded to cheaper models."
            ),
        ),
    )

    # --- credential check -------------------------------------------------------------------------
    def check_connection(self) -> str:
        body = self.http.request("GET", "/credits")
        try:
            credits = _money(body["data"]["total_credits"]).quantize(Decimal("0.01"))
            used = _money(body["data"]["total_usage"]).quantize(Decimal("0.01"))
        except (KeyError, TypeError, ArithmeticError) as e:
            raise ProviderError("OpenRouter sent a malformed answer to GET /credits") from e
        return f"Connected: ${credits} credits, ${used} used"

    # --- keys -------------------------------------------------------------------------------------
    def mint_key(self, *, name: str, limit_usd: Decimal | None = None, expires_at: datetime | None = None) -> MintedKey:
        """Create a key; OpenRouter itself stops it at `limit_usd` (null = unlimited)."""
        payload: dict[str, Any] = {"name": name, "limit": float(limit_usd) if limit_usd is not None else None}
        if expires_at is not None:
            payload["expires_at"] = expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        body = self.http.request("POST", "/keys", json=payload)
        try:
            secret = body["key"]
            data = body["data"]
            key_hash = data["hash"]
            if not (isinstance(secret, str) and secret and isinstance(key_hash, str) and key_hash):
                raise TypeError("missing key fields")
        except (KeyError, TypeError) as e:
            raise ProviderError("OpenRouter created a key but returned no secret or hash") from e
        return MintedKey(
            provider_key_id=key_hash,
            secret=secret,
            hint=data.get("label") or "",
            name=name,
            provider_data={},
        )

    def suspend_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        self.http.request("PATCH", f"/keys/{provider_key_id}", json={"disabled": True})

    def reinstate_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        """Re-enable the same key (its secret is unchanged), so nothing new is returned."""
        self.http.request("PATCH", f"/keys/{provider_key_id}", json={"disabled": False})
        return None

    def revoke_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        try:
            self.http.request("DELETE", f"/keys/{provider_key_id}")
        except ProviderError as e:
            if e.status != 404:
                raise
            # Already deleted (by an earlier attempt or in the dashboard): the goal is reached.

    def set_key_limit(self, *, provider_key_id: str, limit_usd: Decimal | None) -> None:
        limit = float(limit_usd) if limit_usd is not None else None
        self.http.request("PATCH", f"/keys/{provider_key_id}", json={"limit": limit})

    # --- scope caps: guardrails (provider-apis.md §8) ----------------------------------------------
    def scope_container_create(self, *, name: str) -> str:
        body = self.http.request("POST", "/guardrails", json={"name": name})
        try:
            guardrail_id = body["data"]["id"]
            if not isinstance(guardrail_id, str) or not guardrail_id:
                raise TypeError("no id")
        except (KeyError, TypeError) as e:
            raise ProviderError("OpenRouter created a guardrail but returned no id") from e
        return guardrail_id

    def _guardrail_limit(self, body: Any) -> ScopeLimit | None:
        try:
            data = body["data"]
            if data.get("limit_usd") is None:
                return None
            return ScopeLimit(amount_usd=_money(data["limit_usd"]), status="enforcing", interval=data["reset_interval"])
        except (KeyError, TypeError, AttributeError, ArithmeticError) as e:
            raise ProviderError("OpenRouter sent a malformed guardrail") from e

    def scope_limit_get(self, *, scope_id: str) -> ScopeLimit | None:
        return self._guardrail_limit(self.http.request("GET", f"/guardrails/{scope_id}"))

    def scope_limit_set(self, *, scope_id: str, amount_usd: Decimal) -> ScopeLimit:
        """A guardrail budget needs `limit_usd` and `reset_interval` together."""
        payload = {"limit_usd": float(amount_usd.quantize(Decimal("0.01"), rounding="ROUND_FLOOR")),
                   "reset_interval": "monthly"}  # fmt: skip
        limit = self._guardrail_limit(self.http.request("PATCH", f"/guardrails/{scope_id}", json=payload))
        if limit is None:
            raise ProviderError("OpenRouter accepted a guardrail budget but reports none")
        return limit

    def scope_limit_remove(self, *, scope_id: str) -> None:
        try:
            self.http.request("DELETE", f"/guardrails/{scope_id}")
        except ProviderError as e:
            if e.status != 404:
                raise

    def scope_models_set(self, *, scope_id: str, models: list[str] | None) -> None:
        self.http.request("PATCH", f"/guardrails/{scope_id}", json={"allowed_models": models})

    def scope_keys_assign(self, *, scope_id: str, provider_key_ids: list[str]) -> None:
        if provider_key_ids:
            body = {"key_hashes": list(provider_key_ids)}
            self.http.request("POST", f"/guardrails/{scope_id}/assignments/keys", json=body)

    def _raw_keys(self) -> list[dict[str, Any]]:
        """Every key, disabled ones included, paging by offset until a short page."""
        keys: list[dict[str, Any]] = []
        seen: set[str] = set()
        offset = 0
        while True:
            body = self.http.request("GET", "/keys", params={"offset": offset, "include_disabled": "true"})
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ProviderError("OpenRouter sent a malformed key list (no data list)")
            page = body["data"]
            try:
                fresh = [item for item in page if item["hash"] not in seen]
            except (KeyError, TypeError) as e:
                raise ProviderError("OpenRouter sent a malformed key object") from e
            keys.extend(fresh)
            seen.update(item["hash"] for item in fresh)
            # A server that ignores `offset` would repeat itself forever; stop when nothing is new.
            if len(page) < PAGE_SIZE or not fresh:
                return keys
            offset += len(page)

    def list_keys(self) -> list[RemoteKey]:
        try:
            return [self._remote_key(item) for item in self._raw_keys()]
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise ProviderError("OpenRouter sent a malformed key object") from e

    def _remote_key(self, item: dict[str, Any]) -> RemoteKey:
        expires = item.get("expires_at")
        if item.get("disabled"):
            status = "suspended"
        elif expires and parse_time(expires) <= timezone.now():
            status = "expired"
        else:
            status = "active"
        created = item.get("created_at")
        return RemoteKey(
            provider_key_id=item["hash"],
            name=item.get("name") or "",
            hint=item.get("label") or "",
            status=status,
            created_at=parse_time(created) if created else None,
            provider_data={"limit": item.get("limit"), "usage": item.get("usage")},
        )

    # --- usage ------------------------------------------------------------------------------------
    def pull_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        """Daily usage per key and model, one list per key.

        Completed UTC days touching [start, end) come from GET /activity (only the last 30 exist; older
        days are skipped). The current UTC day, if it touches [start, end), is one row per key with
        model "openrouter/today" holding `usage_daily` in USD and no tokens: a live figure that a later
        pull of the completed day replaces. Deleted keys are no longer listed, so their history cannot
        be pulled afterwards.
        """
        today = _day_start(timezone.now())
        oldest = today - ACTIVITY_DAYS * DAY
        days = []
        day = _day_start(start)
        while day < end and day < today:
            if day >= oldest:
                days.append(day)
            day += DAY
        include_today = start < today + DAY and end > today

        for key in self._raw_keys():
            key_hash = key["hash"]
            rows: list[UsageRow] = []
            for day in days:
                rows.extend(self._activity_rows(key_hash, day))
            if include_today:
                try:
                    usage_daily = _money(key.get("usage_daily") or 0)
                except (TypeError, ArithmeticError) as e:
                    raise ProviderError("OpenRouter sent a malformed usage_daily figure") from e
                if usage_daily > 0:
                    rows.append(
                        UsageRow(
                            bucket_start=today,
                            bucket_width="1d",
                            provider_key_id=key_hash,
                            model=TODAY_MODEL,
                            requests=None,
                            cost_usd=usage_daily,
                        )
                    )
            if rows:
                yield rows

    def _activity_rows(self, key_hash: str, day: datetime) -> list[UsageRow]:
        body = self.http.request("GET", "/activity", params={"date": day.date().isoformat(), "api_key_hash": key_hash})
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ProviderError("OpenRouter sent a malformed answer to GET /activity (no data list)")
        # Activity is per date × model × provider endpoint; Allocator's grain is date × key × model.
        by_model: dict[str, UsageRow] = {}
        try:
            for item in body["data"]:
                model = item.get("model") or "unknown"
                row = by_model.setdefault(
                    model,
                    UsageRow(
                        bucket_start=day,
                        bucket_width="1d",
                        provider_key_id=key_hash,
                        model=model,
                        requests=0,
                        cost_usd=Decimal(0),
                    ),
                )
                row.input_tokens += token_count(item.get("prompt_tokens"))
                row.output_tokens += token_count(item.get("completion_tokens"))
                row.requests = (row.requests or 0) + token_count(item.get("requests"))
                row.cost_usd = (row.cost_usd or Decimal(0)) + _money(item.get("usage") or 0)
        except (AttributeError, KeyError, TypeError, ArithmeticError) as e:
            raise ProviderError("OpenRouter sent a malformed activity row") from e
        return list(by_model.values())
