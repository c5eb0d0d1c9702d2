"""OpenAI adapter: Administration API (projects, service accounts, usage, costs).

OpenAI has no endpoint to create a plain project API key. Keys are minted by creating a *service
account* in a project, whose creation response carries the key's secret once. There is no disable
either: suspending deletes the service account, and reinstating mints a replacement key.
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
    MintedKey,
    OptionSpec,
    Provider,
    ProviderError,
    RemoteKey,
    ScopeLimit,
    UsageRow,
    token_count,
    whole_cents,
)

USAGE_KINDS = ("completions", "embeddings")
USAGE_GROUP_BY = ("api_key_id", "model", "project_id")
# Billed cost per key (and project); cost no key carries comes back with api_key_id null (provider-apis.md §8).
COST_GROUP_BY = ("project_id", "api_key_id")
PAGE_SIZE = 100
HOUR_BUCKETS_PER_PAGE = 168  # the documented maximum for bucket_width=1h
DAY_COST_BUCKETS_PER_PAGE = 180
MINUTE_BUCKETS_PER_PAGE = 1440  # the documented maximum for bucket_width=1m
MINUTE_GROUP_BY = ("model", "project_id")  # rate limits are per project and model
# Completions also split batch from the rest (batch_1_day_max_input_tokens); embeddings have no `batch` grouping.
MINUTE_GROUP_BY_KIND = {"completions": (*MINUTE_GROUP_BY, "batch"), "embeddings": MINUTE_GROUP_BY}
# A project rate limit's fields (provider-apis.md §1.4, §8) and the dimension each one limits; images and audio are
# not usage Allocator reads.
RATE_LIMIT_FIELDS = {
    "max_requests_per_1_minute": capacity.REQUESTS_PER_MINUTE,
    "max_tokens_per_1_minute": capacity.TOKENS_PER_MINUTE,
    "max_requests_per_1_day": capacity.REQUESTS_PER_DAY,
    "batch_1_day_max_input_tokens": capacity.BATCH_INPUT_TOKENS_PER_DAY,
}


def _hint(secret: str) -> str:
    prefix = "sk-svcacct-" if secret.startswith("sk-svcacct-") else secret[:3]
    return f"{prefix}…{secret[-4:]}"


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _report_params(
    start: datetime, end: datetime, *, width: str, group_by: tuple[str, ...], limit: int
) -> list[tuple[str, Any]]:
    """Query parameters of a usage or cost report (the two endpoints take the same ones)."""
    return [
        ("start_time", _unix(start)),
        ("end_time", _unix(end)),
        ("bucket_width", width),
        *[("group_by", dim) for dim in group_by],
        ("limit", limit),
    ]


class OpenAIProvider(Provider):
    kind = "openai"
    default_base_url = "https://api.openai.com/v1"
    capabilities = Capabilities(
        mint=True,
        suspend=True,
        suspend_is_revoke=True,
        revoke=True,
        list_keys=True,
        provider_limit=False,
        usage=True,
        cost=True,
        per_key_cost=True,
        request_counts=True,
        caps_scope_spend=True,
        restricts_models=True,
        rate_limits=True,
        minute_usage=True,
    )
    usage_bucket_width = "1h"
    scope_noun = "project"
    scope_container_field = "project_id"
    creates_scope_containers = True
    recent_usage_calls = 3  # completions, embeddings, costs

    display_name = "OpenAI"
    client_base_url = "https://api.openai.com/v1"
    credential_label = "Admin API key"
    credential_help = (
        "An organization admin key (sk-admin-…), made by an organization owner at platform.openai.com under "
        "Settings → Organization → Admin keys. Project keys cannot read usage or create service accounts."
    )
    option_specs = (
        OptionSpec(
            name="project_id",
            label="Project id",
            help=(
                "The project new keys are minted in (proj_…, from Settings → Projects). Each key is a service "
                "account of this project. Leave empty to only import and track keys of every project."
            ),
        ),
        OptionSpec(
            name="scope_per",
            label="One OpenAI project per",
            kind="choice",
            choices=(("", "none (all keys in the project above)"), ("team", "team"), ("project", "Allocator project")),
            help=(
                "Allocator creates one OpenAI project per team (or per Allocator project), mints that scope's keys "
                "there, and keeps the project's monthly hard spend limit at what its tightest hard budget still "
                "allows; degrading to cheaper models uses the project's model permissions."
            ),
        ),
    )

    def _project_id(self) -> str:
        project_id = self.options.get("project_id")
        if not project_id:
            raise ProviderError(
                "OpenAI needs a project_id option: keys are minted as service accounts in that project",
                permanent=True,
            )
        return str(project_id)

    # --- credential check -------------------------------------------------------------------------
    def check_connection(self) -> str:
        self.http.request("GET", "/organization/projects", params={"limit": 1})
        project_id = self.options.get("project_id")
        if not project_id:
            return "Connected to OpenAI organization"
        project = self.http.request("GET", f"/organization/projects/{project_id}")
        name = project.get("name") if isinstance(project, dict) else None
        return f"Connected to OpenAI organization; project {name or project_id} is reachable"

    # --- keys -------------------------------------------------------------------------------------
    def mint_key(self, *, name: str, limit_usd: Decimal | None = None, expires_at: datetime | None = None) -> MintedKey:
        """Create a service account named `name` in the configured project and return its key.

        OpenAI keys carry no dollar limit or expiry, so `limit_usd` and `expires_at` are enforced by
        Allocator alone.
        """
        project_id = self._project_id()
        body = self.http.request("POST", f"/organization/projects/{project_id}/service_accounts", json={"name": name})
        try:
            api_key = body["api_key"]
            secret = api_key["value"]
            key_id = api_key["id"]
            account_id = body["id"]
            if not (isinstance(secret, str) and secret and isinstance(key_id, str) and isinstance(account_id, str)):
                raise TypeError("missing key fields")
        except (KeyError, TypeError) as e:
            raise ProviderError("OpenAI created a service account but returned no API key secret") from e
        return MintedKey(
            provider_key_id=key_id,
            secret=secret,
            hint=_hint(secret),
            name=name,
            provider_data={"project_id": project_id, "service_account_id": account_id, "name": name},
        )

    def _delete_service_account(self, provider_data: dict[str, Any]) -> None:
        project_id = provider_data.get("project_id") or self._project_id()
        account_id = provider_data.get("service_account_id")
        if not account_id:
            raise ProviderError("This OpenAI key has no service account id; delete it in the dashboard", permanent=True)
        try:
            self.http.request("DELETE", f"/organization/projects/{project_id}/service_accounts/{account_id}")
        except ProviderError as e:
            if e.status != 404:
                raise
            # Already deleted (by an earlier attempt or in the dashboard): the goal is reached.

    def suspend_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        """OpenAI cannot disable a key: suspending deletes its service account (see reinstate_key)."""
        self._delete_service_account(provider_data)

    def reinstate_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> MintedKey | None:
        """Mint a replacement service account, in the key's own project; the caller must hand the new secret to
        the key's owner."""
        adapter = self.in_scope_container(provider_data["project_id"]) if provider_data.get("project_id") else self
        return adapter.mint_key(name=provider_data.get("name") or "allocator-key")

    def revoke_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        self._delete_service_account(provider_data)

    def _list_all(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self.listed(path, params, after="after", limit=PAGE_SIZE)

    def list_keys(self) -> list[RemoteKey]:
        """Keys of the configured project, or of every active project when no project_id is set."""
        if self.options.get("project_id"):
            project_ids = [str(self.options["project_id"])]
        else:
            project_ids = [p["id"] for p in self._list_all("/organization/projects", {})]
        keys = []
        for project_id in project_ids:
            # owner_project_access's default is undocumented; "any" includes keys whose owner lost access.
            for item in self._list_all(
                f"/organization/projects/{project_id}/api_keys", {"owner_project_access": "any"}
            ):
                try:
                    keys.append(self._remote_key(item, project_id))
                except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as e:
                    raise ProviderError("OpenAI sent a malformed API key object") from e
        return keys

    def _remote_key(self, item: dict[str, Any], project_id: str) -> RemoteKey:
        owner = item.get("owner") or {}
        provider_data: dict[str, Any] = {"project_id": project_id}
        name = item.get("name") or ""
        if owner.get("type") == "service_account":
            account = owner.get("service_account") or {}
            provider_data["service_account_id"] = account.get("id")
            # Minted keys are all called "Secret Key"; the service account carries the useful name.
            name = account.get("name") or name
            provider_data["name"] = name
        created = item.get("created_at")
        return RemoteKey(
            provider_key_id=item["id"],
            name=name,
            hint=item.get("redacted_value") or "",
            status="active" if item.get("owner_project_access") == "active" else "suspended",
            created_at=datetime.fromtimestamp(created, tz=UTC) if created is not None else None,
            provider_data=provider_data,
        )

    # --- scope caps (provider-apis.md §1.5, §8) ----------------------------------------------------
    def scope_container_create(self, *, name: str) -> str:
        body = self.http.request("POST", "/organization/projects", json={"name": name})
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ProviderError("OpenAI created a project but returned no id")
        return body["id"]

    def _spend_limit(self, body: Any) -> ScopeLimit:
        try:
            cents = body["threshold_amount"]
            if isinstance(cents, bool) or not isinstance(cents, int):
                raise TypeError("threshold_amount is not an integer")
            status = (body.get("enforcement") or {}).get("status") or ""
            return ScopeLimit(amount_usd=Decimal(cents) / 100, status=str(status), interval=body.get("interval", ""))
        except (KeyError, TypeError, AttributeError) as e:
            raise ProviderError("OpenAI sent a malformed project spend limit") from e

    def scope_limit_get(self, *, scope_id: str) -> ScopeLimit | None:
        try:
            body = self.http.request("GET", f"/organization/projects/{scope_id}/spend_limit")
        except ProviderError as e:
            if e.status == 404:
                return None
            raise
        return self._spend_limit(body)

    def scope_limit_set(self, *, scope_id: str, amount_usd: Decimal) -> ScopeLimit:
        """The project's hard limit, monthly, in integer cents (OpenAI has no quarterly interval)."""
        payload = {"threshold_amount": whole_cents(amount_usd), "currency": "USD", "interval": "month"}
        body = self.http.request("POST", f"/organization/projects/{scope_id}/spend_limit", json=payload)
        return self._spend_limit(body)

    def scope_limit_remove(self, *, scope_id: str) -> None:
        try:
            self.http.request("DELETE", f"/organization/projects/{scope_id}/spend_limit")
        except ProviderError as e:
            if e.status != 404:
                raise

    def scope_models_set(self, *, scope_id: str, models: list[str] | None) -> None:
        path = f"/organization/projects/{scope_id}/model_permissions"
        if models is None:
            try:
                self.http.request("DELETE", path)
            except ProviderError as e:
                if e.status != 404:
                    raise
            return
        self.http.request("POST", path, json={"mode": "allow_list", "model_ids": list(models)})

    # --- usage ------------------------------------------------------------------------------------
    def pull_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        """Hourly completions and embeddings usage per key, model and project, one list per page."""
        for kind in USAGE_KINDS:
            path = f"/organization/usage/{kind}"
            params = _report_params(start, end, width="1h", group_by=USAGE_GROUP_BY, limit=HOUR_BUCKETS_PER_PAGE)
            yield from self.report_rows(path, params, self._usage_rows, what="usage")

    def _usage_rows(self, bucket: dict[str, Any]) -> list[UsageRow]:
        bucket_start = datetime.fromtimestamp(bucket["start_time"], tz=UTC)
        results = bucket["results"]
        if not isinstance(results, list):
            raise TypeError("results is not a list")
        rows = []
        for result in results:
            project_id = result.get("project_id")
            rows.append(
                UsageRow(
                    bucket_start=bucket_start,
                    bucket_width="1h",
                    provider_key_id=result.get("api_key_id"),
                    model=result.get("model") or "unknown",
                    input_tokens=token_count(result["input_tokens"]),  # already includes cached input
                    cached_input_tokens=token_count(result.get("input_cached_tokens")),
                    cache_write_tokens=token_count(result.get("input_cache_write_tokens")),
                    output_tokens=token_count(result.get("output_tokens")),  # embeddings have none
                    requests=token_count(result.get("num_model_requests")),
                    dimensions={"project_id": project_id} if project_id else {},
                )
            )
        return rows

    def pull_cost(self, *, start: datetime, end: datetime) -> Iterator[list[CostRow]]:
        """Daily billed cost per project and key (amounts are dollars as floats on the wire).

        Cost no key carries comes with `api_key_id` null: only that part is spread over our estimates.
        """
        path = "/organization/costs"
        params = _report_params(start, end, width="1d", group_by=COST_GROUP_BY, limit=DAY_COST_BUCKETS_PER_PAGE)
        yield from self.report_rows(path, params, self._cost_rows, what="cost")

    def _cost_rows(self, bucket: dict[str, Any]) -> list[CostRow]:
        day_start = datetime.fromtimestamp(bucket["start_time"], tz=UTC)
        return [
            CostRow(
                day_start=day_start,
                amount_usd=Decimal(str(result["amount"]["value"])),
                provider_key_id=result.get("api_key_id"),
                dimensions={"project_id": result["project_id"]} if result.get("project_id") else {},
            )
            for result in bucket["results"]
        ]

    # --- capacity (provider-apis.md §1.4, §1.6, §8) -------------------------------------------------
    def rate_limits(self, *, scope_ids: tuple[str, ...] = ()) -> list[capacity.RateLimit]:
        """Rate limits per model of the given projects (else the configured one, else every project)."""
        project_ids = list(scope_ids) or ([str(self.options["project_id"])] if self.options.get("project_id") else [])
        if not project_ids:
            project_ids = [p["id"] for p in self._list_all("/organization/projects", {})]
        limits = []
        for project_id in project_ids:
            for item in self._list_all(f"/organization/projects/{project_id}/rate_limits", {}):
                try:
                    limits += _rate_limits(item, project_id)
                except (AttributeError, KeyError, TypeError, ValueError) as e:
                    raise ProviderError("OpenAI sent a malformed project rate limit") from e
        return limits

    def minute_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        """Completions and embeddings usage per minute, model and project (the grain of the rate limits)."""
        for kind in USAGE_KINDS:
            path = f"/organization/usage/{kind}"
            group_by = MINUTE_GROUP_BY_KIND[kind]
            params = _report_params(start, end, width="1m", group_by=group_by, limit=MINUTE_BUCKETS_PER_PAGE)
            yield from self.report_rows(path, params, _minute_rows(self._minute_usage_rows), what="minute usage")

    def _minute_usage_rows(self, bucket: dict[str, Any]) -> list[UsageRow]:
        """An hourly bucket's rows, each marked `batch` where the result says it is Batch API usage."""
        rows = self._usage_rows(bucket)
        for row, result in zip(rows, bucket["results"], strict=True):
            if result.get("batch") is True:
                row.dimensions["batch"] = True
        return rows


def _rate_limits(item: dict[str, Any], project_id: str) -> list[capacity.RateLimit]:
    model = item["model"]
    if not isinstance(model, str) or not model:
        raise ValueError("rate limit without a model")
    limits = []
    for name, dimension in RATE_LIMIT_FIELDS.items():
        value = item.get(name)
        if value is None:
            continue
        limits.append(capacity.RateLimit(model=model, dimension=dimension, value=token_count(value), scope=project_id))
    return limits


def _minute_rows(parse):
    """`parse` (an hourly bucket reader) for minute buckets: width 1m, the project as the row's scope."""

    def rows(bucket: dict[str, Any]) -> list[UsageRow]:
        out = parse(bucket)
        for row in out:
            row.bucket_width = "1m"
            scope = row.dimensions.get("project_id", capacity.ORGANIZATION)
            row.dimensions = {"scope": scope, "batch": True} if row.dimensions.get("batch") else {"scope": scope}
        return out

    return rows
