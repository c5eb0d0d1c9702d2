"""The provider interface: one small class per provider, one error type, one HTTP helper.

An adapter is built from plain values (base URL, decrypted credential, options dict) so it never touches
the database; services load the ProviderAccount row and pass them in. Adapters declare what they can do
in `capabilities`; callers check before calling (an unsupported call raises ProviderError(permanent=True)).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from allocator.providers.capacity import CapacityReads
from allocator.providers.caps import (  # noqa: F401 - part of the provider interface
    GUARD_NEXT_SYNC,
    GUARD_PROVIDER,
    GUARD_PROVIDER_MONTHLY,
    IncreaseRequest,
    ScopeLimit,
)

if TYPE_CHECKING:
    from allocator.providers.http import HttpClient

logger = logging.getLogger(__name__)


class ProviderError(Exception):
    """Any failure talking to a provider.

    `permanent` means retrying will not help (bad request, unsupported operation); `auth` means the
    admin credential was rejected (401/403); `retry_after` is the provider's hint in seconds, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        auth: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent or auth
        self.auth = auth
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Capabilities:
    mint: bool = False  # create keys through the API (Anthropic cannot: keys are imported)
    suspend: bool = False  # reversible disable at the provider
    suspend_is_revoke: bool = False  # "suspend" deletes the key and reinstate mints a new one (OpenAI)
    revoke: bool = False
    list_keys: bool = False
    provider_limit: bool = False  # provider enforces a dollar limit on the key itself (OpenRouter)
    usage: bool = False
    cost: bool = False  # provider reports billed cost (coarser grain than usage, maybe)
    per_key_cost: bool = False  # provider reports cost per key (no price table needed)
    request_counts: bool = True  # usage has request counts (Anthropic's report has none)
    # Caps on a scope (an OpenAI project, an Anthropic workspace, an OpenRouter guardrail) that the provider
    # enforces between syncs: a spend limit per month, and a model allow-list.
    caps_scope_spend: bool = False
    restricts_models: bool = False
    increase_requests: bool = False  # members ask the provider for more (Anthropic spend-limit increase requests)
    coding_usage: bool = False  # a coding tool: per person and day usage and outcomes (providers/coding.py)
    seats: bool = False  # a coding tool that lists its paid seats
    rate_limits: bool = False  # reads its rate limits (providers/capacity.py)
    minute_usage: bool = False  # serves usage in 1-minute buckets
    member_spend_limit: bool = False  # a hard spend limit per member, held by the provider (Cursor)


class FeatureUnavailable(ProviderError):
    """The provider refused a feature for this organization (403/404 on a beta or plan-bound endpoint): a state
    to show ("not available for this organization"), not a failure to retry."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, permanent=True, status=status)


@dataclass
class MintedKey:
    """What a mint returns. `secret` is shown to the requester once and never stored in clear."""

    provider_key_id: str
    secret: str
    hint: str
    name: str
    provider_data: dict[str, Any] = field(default_factory=dict)  # e.g. OpenAI service account + project ids


@dataclass
class RemoteKey:
    """A key as listed at the provider."""

    provider_key_id: str
    name: str
    hint: str
    status: str  # "active", "suspended", "revoked" or "expired" (mapped from the provider's words)
    created_at: datetime | None = None
    provider_data: dict[str, Any] = field(default_factory=dict)


@dataclass
class UsageRow:
    """One provider-reported usage bucket for one key and model.

    `provider_key_id` is None for usage the provider cannot attribute to a key (kept as "unattributed").
    Token counts are integers; `input_tokens` is the TOTAL input including cached reads and cache writes.
    `cost_usd` is the provider's own per-row cost when it reports one at this grain, else None.
    `requests` is None when the provider does not report request counts (never 0 for "unknown").
    `dimensions` holds any other grouping (project id, workspace id, service tier) and is part of the
    row's identity.
    """

    bucket_start: datetime
    bucket_width: str  # "1m", "1h" or "1d"
    provider_key_id: str | None
    model: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    requests: int | None = 0
    cost_usd: Decimal | None = None
    dimensions: dict[str, str] = field(default_factory=dict)


@dataclass
class CostRow:
    """Billed cost at the provider's grain (OpenAI: day × project [× key]; Anthropic: day × workspace)."""

    day_start: datetime
    amount_usd: Decimal
    provider_key_id: str | None = None
    dimensions: dict[str, str] = field(default_factory=dict)


def whole_cents(amount: Decimal) -> int:
    """An amount in integer cents, rounded down: a limit written at the provider never allows more than asked."""
    return int((amount * 100).to_integral_value(rounding="ROUND_FLOOR"))


def parse_time(value: str) -> datetime:
    """An ISO 8601 time from a provider, as aware UTC (a time without an offset is UTC)."""
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def token_count(value: Any) -> int:
    """A token or request count from a provider; null means zero. Anything else non-integer is a malformed answer
    (adapters turn the TypeError into a ProviderError for the page)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


ERROR_TEXT_LIMIT = 300  # characters of a provider's error text kept in messages
_SHORTEST_PREFIX = 8  # a start of the credential this long is redacted too


def redact(text: str, secret: str) -> str:
    """`text` with `secret` replaced by "[credential]", also where only its start appears (an error that echoes a
    cut-off or masked key, "sk-admin-AbCd…")."""
    if not secret:
        return text
    text = text.replace(secret, "[credential]")
    head = secret[:_SHORTEST_PREFIX]
    if len(secret) <= _SHORTEST_PREFIX:
        return text
    start = text.find(head)
    while start != -1:
        end = start + len(head)
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        text = text[:start] + "[credential]" + text[end:]
        start = text.find(head, start + len("[credential]"))
    return text


@dataclass(frozen=True)
class OptionSpec:
    """One documented entry of a provider account's `options`, shown as a real form field."""

    name: str
    label: str
    help: str = ""
    kind: str = "text"  # "text", "int", "bool", "list" (comma-separated), "choice" or "money" (bounded USD)
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()  # for kind "choice": (value, label)


class Provider(CapacityReads):
    """Base class of every adapter. Subclasses override what their `capabilities` declare."""

    kind: str = ""
    default_base_url: str = ""
    capabilities = Capabilities()
    usage_bucket_width: str = "1h"

    display_name: str = ""  # also the kind's label (ProviderKind is derived from the registry)

    # Facts the pages need, declared here so nothing outside providers/ knows a provider by name.
    client_base_url: str = ""  # what a key holder points an SDK at (the usage snippet on the reveal page)
    credential_label: str = "Admin API key"
    credential_help: str = ""  # which credential, and where in the provider's console to find it
    option_specs: tuple[OptionSpec, ...] = ()

    # Facts the usage sync needs.
    # Days of usage history the provider still serves (None: all). A sync window reaching further back is
    # clamped, or the replace step would delete stored history the provider can no longer send.
    usage_history_days: int | None = None
    # The provider drops a deleted key's history with the key (it lists only live keys): a re-pull replaces
    # only the rows of keys it saw, so revoking a key never erases its past spend.
    replace_only_seen_keys: bool = False
    # The adapter reads the database while pulling: its pages are prepared on the calling thread, not ahead in a
    # helper thread.
    reads_database: bool = False
    # The provider reports other providers' models (the simulated one plays "gpt-4o" and "claude-sonnet-4"): a
    # manual price set for such a model re-prices its accounts too.
    reports_real_models: bool = False

    # Scope caps: what the provider calls the container a scope maps to, and the key field that names it.
    scope_noun: str = ""  # "project", "workspace", "guardrail"
    scope_container_field: str = ""  # provider_data field of a key naming its container ("project_id", ...)
    creates_scope_containers: bool = False  # Allocator makes the container itself (and mints the scope's keys there)
    recent_usage_calls: int = 1  # provider calls one pull of today's usage costs (the fast lane's budget unit)

    def __init__(self, *, base_url: str = "", credential: str = "", options: dict[str, Any] | None = None):
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.credential = credential
        self.options = options or {}
        self.http = self.http_client()

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}

    def http_client(self) -> HttpClient:
        """The adapter's HTTP client; options `timeout`, `retries` and `max_sleep` tune it (tests shorten them)."""
        from allocator.providers.http import HttpClient

        return HttpClient(
            base_url=self.base_url,
            headers=self.auth_headers(),
            timeout=float(self.options.get("timeout", 20.0)),
            retries=int(self.options.get("retries", 2)),
            max_sleep=float(self.options.get("max_sleep", 30.0)),
            provider=self.display_name or self.kind,
            error_message=self.error_message,
        )

    def error_message(self, response: httpx.Response) -> str:
        """The human part of an error body (all three providers nest it at error.message), credential redacted.

        Redacted before it is cut short: a credential cut in half would no longer match.
        """
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = response.text
        return redact(message, self.credential)[:ERROR_TEXT_LIMIT]

    # --- paging -------------------------------------------------------------------------------------
    def report_pages(self, path: str, params: list[tuple[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Yield the `data` list of each page of a usage or cost report, following `page=<next_page>` while
        `has_more` (OpenAI's and Anthropic's reports page alike)."""
        token = None
        while True:
            page_params = params + ([("page", token)] if token else [])
            body = self.http.request("GET", path, params=page_params)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ProviderError(f"{self.display_name} sent a malformed page from GET {path} (no data list)")
            yield body["data"]
            token = body.get("next_page")
            if not body.get("has_more") or not token:
                return

    def report_rows(
        self, path: str, params: list[tuple[str, Any]], parse: Callable[[dict[str, Any]], list], *, what: str
    ) -> Iterator[list]:
        """Each page of a report as a list of rows, `parse(bucket)` giving a bucket's rows; empty pages are skipped.
        A bucket that cannot be read fails its page with a ProviderError (the pages before it stay stored)."""
        for buckets in self.report_pages(path, params):
            try:
                rows = [row for bucket in buckets for row in parse(bucket)]
            except (AttributeError, KeyError, TypeError, ValueError, OverflowError, ArithmeticError) as e:
                raise ProviderError(f"{self.display_name} sent a malformed {what} bucket from GET {path}") from e
            if rows:
                yield rows

    def listed(self, path: str, params: dict[str, Any], *, after: str, limit: int) -> Iterator[dict[str, Any]]:
        """Yield the items of a cursor-paged list, passing `<after>=<last_id>` while `has_more`."""
        cursor = None
        while True:
            page_params = {**params, "limit": limit, **({after: cursor} if cursor else {})}
            body = self.http.request("GET", path, params=page_params)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ProviderError(f"{self.display_name} sent a malformed list from GET {path} (no data list)")
            yield from body["data"]
            cursor = body.get("last_id")
            if not body.get("has_more") or not cursor:
                return

    # --- credential check -------------------------------------------------------------------------
    def check_connection(self) -> str:
        """Call a cheap read endpoint; return a human sentence on success, raise ProviderError if not."""
        raise NotImplementedError

    # --- scope caps -------------------------------------------------------------------------------
    @property
    def scope_per(self) -> str:
        """ "team" or "project" when the account maps each such scope to a provider-side container, else ""."""
        value = str(self.options.get("scope_per") or "")
        return value if self.capabilities.caps_scope_spend and value in ("team", "project") else ""

    def guard_text(self) -> str:
        """Which guard holds a key of this account between syncs, in the words pages show."""
        if self.capabilities.provider_limit:
            return GUARD_PROVIDER
        if self.scope_per:
            return GUARD_PROVIDER_MONTHLY
        return GUARD_NEXT_SYNC

    def scope_container_create(self, *, name: str) -> str:
        """Create the provider-side container of one scope; return its id."""
        raise ProviderError(f"{self.kind} cannot create a {self.scope_noun or 'scope'} through its API", permanent=True)

    def scope_limit_get(self, *, scope_id: str) -> ScopeLimit | None:
        raise ProviderError(f"{self.kind} has no spend limits", permanent=True)

    def scope_limit_set(self, *, scope_id: str, amount_usd: Decimal) -> ScopeLimit:
        """Set the monthly spend limit of one container (rounded down to whole cents)."""
        raise ProviderError(f"{self.kind} has no spend limits", permanent=True)

    def scope_limit_remove(self, *, scope_id: str) -> None:
        raise ProviderError(f"{self.kind} has no spend limits", permanent=True)

    def scope_models_set(self, *, scope_id: str, models: list[str] | None) -> None:
        """Allow only `models` in the container; None lifts the restriction."""
        raise ProviderError(f"{self.kind} cannot restrict models", permanent=True)

    def scope_keys_assign(self, *, scope_id: str, provider_key_ids: list[str]) -> None:
        """Put keys under the container's caps (OpenRouter guardrails are assigned to keys; elsewhere a key lives in
        its project or workspace already)."""
        return None

    def increase_requests_list(self) -> list[IncreaseRequest]:
        raise ProviderError(f"{self.kind} has no spend-limit increase requests", permanent=True)

    def increase_request_decide(self, *, request_id: str, approve: bool, amount_usd: Decimal | None = None) -> None:
        raise ProviderError(f"{self.kind} has no spend-limit increase requests", permanent=True)

    # --- keys -------------------------------------------------------------------------------------
    def mint_key(self, *, name: str, limit_usd: Decimal | None = None, expires_at: datetime | None = None) -> MintedKey:
        """Create a key at the provider. The returned secret is the only copy. Minting in a scope's container is
        the same call on an adapter built with that container's options (see `in_scope_container`)."""
        raise ProviderError(f"{self.kind} cannot create keys through its API", permanent=True)

    def in_scope_container(self, scope_id: str) -> Provider:
        """This adapter, minting into the container `scope_id` (OpenAI: that project)."""
        options = {**self.options, self.scope_container_field or "scope_id": scope_id}
        return type(self)(base_url=self.base_url, credential=self.credential, options=options)

    def suspend_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        raise ProviderError(f"{self.kind} cannot suspend keys", permanent=True)

    def reinstate_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> MintedKey | None:
        """Undo suspend. Returns a new MintedKey when the provider had to mint a replacement (OpenAI)."""
        raise ProviderError(f"{self.kind} cannot reinstate keys", permanent=True)

    def revoke_key(self, *, provider_key_id: str, provider_data: dict[str, Any]) -> None:
        raise ProviderError(f"{self.kind} cannot revoke keys", permanent=True)

    def set_key_limit(self, *, provider_key_id: str, limit_usd: Decimal | None) -> None:
        """Set the provider-side dollar cap (only where capabilities.provider_limit)."""
        raise ProviderError(f"{self.kind} cannot cap keys itself", permanent=True)

    def list_keys(self) -> list[RemoteKey]:
        raise ProviderError(f"{self.kind} cannot list keys", permanent=True)

    # --- usage ------------------------------------------------------------------------------------
    def pull_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        """Yield usage one provider page at a time for [start, end). Every page is complete on its own."""
        raise ProviderError(f"{self.kind} has no usage API", permanent=True)

    def pull_cost(self, *, start: datetime, end: datetime) -> Iterator[list[CostRow]]:
        """Yield billed cost one page at a time for [start, end)."""
        raise ProviderError(f"{self.kind} has no cost API", permanent=True)


def decode_json(body: bytes) -> Any:
    """A body's JSON (orjson: usage pages hold 100,000s of results; twice as fast; its errors are ValueErrors)."""
    return orjson.loads(body)
