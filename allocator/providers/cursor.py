"""Cursor adapter: the Admin API of a Cursor team plan (https://cursor.com/docs/account/teams/admin-api).

Basic authentication with the Admin API key as the username and an empty password. Cursor has no keys to mint:
its spend is per team member, so this adapter reads members, per-member daily usage (lines, accepted
suggestions, requests by kind), per-request usage events (model, tokens, cost in cents) and the current
billing cycle's spend per member, and writes each member's hard spend limit. Times on the wire are epoch
milliseconds. The API serves only about a week of history (HISTORY_DAYS): older days answer empty, so an
account must be synced at least daily or those days are lost.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from allocator.money import MAX_USD
from allocator.providers.base import ERROR_TEXT_LIMIT, Capabilities, OptionSpec, ProviderError, redact, token_count
from allocator.providers.coding import BUDGET_POLICY_OPTION, CodingToolProvider, CodingUsageRow

HISTORY_DAYS = 7  # days of usage the Admin API still serves
RANGE_DAYS = 30  # one daily-usage call may span at most this many days
EVENTS_PAGE_SIZE = 500
SPEND_PAGE_SIZE = 100
MAX_PAGES = 10_000  # a server that never says "last page" must not keep a sync going forever
EMAIL_MAX_LENGTH = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MICRO = Decimal("0.000001")
NO_EMAIL = "(no email)"  # who Cursor names no one for: kept as an identity of its own, listed for an admin

# daily-usage-data fields read per member and day, and the outcome name each is stored under.
OUTCOME_FIELDS = {
    "totalLinesAdded": "lines_added",
    "totalLinesDeleted": "lines_deleted",
    "acceptedLinesAdded": "accepted_lines_added",
    "acceptedLinesDeleted": "accepted_lines_deleted",
    "totalAccepts": "accepted_suggestions",
    "totalRejects": "rejected_suggestions",
    "totalTabsShown": "tabs_shown",
    "totalTabsAccepted": "tabs_accepted",
    "composerRequests": "composer_requests",
    "chatRequests": "chat_requests",
    "agentRequests": "agent_requests",
    "cmdkUsages": "cmdk_requests",
    "bugbotUsages": "bugbot_requests",
    "subscriptionIncludedReqs": "included_requests",
    "usageBasedReqs": "usage_based_requests",
    "apiKeyReqs": "api_key_requests",
}
REQUEST_OUTCOMES = ("composer_requests", "chat_requests", "agent_requests", "cmdk_requests", "bugbot_requests")


def epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def _ms_time(value: Any) -> datetime:
    """An epoch-milliseconds number or numeric string (usage events send strings) as aware UTC."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("expected epoch milliseconds")
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _number(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("expected a number")
    return Decimal(str(value))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass
class CursorMember:
    email: str
    name: str
    role: str


@dataclass
class MemberSpend:
    """One member's spend in the current billing cycle, and the hard limit Cursor holds for them (None: none)."""

    email: str
    name: str
    spend_usd: Decimal
    hard_limit_usd: Decimal | None
    premium_requests: int


@dataclass
class ModelUsage:
    """Tokens, requests and cost of one member's usage events of one model on one day."""

    input_tokens: int = 0  # total input: uncached plus cache reads and writes, as elsewhere in Allocator
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    requests: int = 0
    cost_usd: Decimal = Decimal(0)


@dataclass
class PersonDay:
    """One member's Cursor day: spend and tokens per model from the usage events, the tool's own outcome counts
    from the daily usage report (lines, accepted suggestions, requests by kind)."""

    email: str
    day: date
    models: dict[str, ModelUsage] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    active: bool = False

    @property
    def cost_usd(self) -> Decimal:
        return sum((m.cost_usd for m in self.models.values()), Decimal(0))

    @property
    def requests(self) -> int:
        return sum(self.outcomes.get(name, 0) for name in REQUEST_OUTCOMES)

    @property
    def _email(self) -> str:
        return "" if self.email == NO_EMAIL else self.email

    def rows(self) -> list[CodingUsageRow]:
        """As stored: one row per model (tokens, cost, requests = its usage events) and one model-less row with the
        day's outcome counts. Cursor reports no sessions, commits or pull requests (None, "n/a")."""
        rows = [
            CodingUsageRow(day=self.day, identity=self.email, email=self._email, model=model,
                           input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                           cache_read_tokens=u.cache_read_tokens, cache_creation_tokens=u.cache_write_tokens,
                           cost_usd=u.cost_usd, requests=u.requests)  # fmt: skip
            for model, u in sorted(self.models.items())
        ]
        if self.outcomes:
            accepted = self.outcomes.get("accepted_suggestions", 0) + self.outcomes.get("tabs_accepted", 0)
            rows.append(
                CodingUsageRow(day=self.day, identity=self.email, email=self._email, model="",
                               lines_added=self.outcomes.get("lines_added", 0),
                               lines_removed=self.outcomes.get("lines_deleted", 0), accepted_suggestions=accepted)
            )  # fmt: skip
        return rows


def spend_limit_error(*, email: str, dollars: int | None) -> str | None:
    """Why a member limit cannot be sent (checked before any call), or None. Cursor takes whole dollars only."""
    if not email or len(email) > EMAIL_MAX_LENGTH or not _EMAIL.match(email):
        return f"“{email[:60]}” is not an email address Cursor accepts"
    if dollars is not None and (isinstance(dollars, bool) or not isinstance(dollars, int)):
        return "Cursor spend limits are whole dollars"
    if dollars is not None and not 0 <= dollars <= MAX_USD:
        return f"a spend limit must be between $0 and ${MAX_USD:,}"
    return None


class CursorProvider(CodingToolProvider):
    kind = "cursor"
    default_base_url = "https://api.cursor.com"
    capabilities = Capabilities(request_counts=True, coding_usage=True, member_spend_limit=True)
    usage_history_days = HISTORY_DAYS

    display_name = "Cursor"
    client_base_url = ""
    credential_label = "Admin API key"
    credential_help = (
        "An Admin API key of a Cursor team plan (key_…), made by a team admin in the Cursor dashboard under "
        "Settings → Advanced → Admin API Keys. Cursor keeps only about a week of usage: Allocator syncs it hourly."
    )
    option_specs = (
        BUDGET_POLICY_OPTION,
        OptionSpec(
            name="member_limits",
            label="Keep members' hard limits in step with their budgets",
            kind="bool",
            help=(
                "Sets each matched member's Cursor hard spend limit to their spend this billing cycle plus what the "
                "tightest hard budget (person, team, cost center) still allows, in whole dollars."
            ),
        ),
    )

    def auth_headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.credential}:".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def error_message(self, response) -> str:
        """Cursor answers `{"error": ..., "message": ...}` (or `{"outcome": "error", "message": ...}`)."""
        try:
            body = response.json()
            message = body.get("message") or body.get("error")
            if isinstance(message, dict):
                message = message.get("message")
            message = str(message) if message else response.text
        except (ValueError, AttributeError):
            message = response.text
        return redact(message, self.credential)[:ERROR_TEXT_LIMIT]

    def _post(self, path: str, payload: dict[str, Any], *, list_field: str) -> dict[str, Any]:
        body = self.http.request("POST", path, json=payload)
        if not isinstance(body, dict) or not isinstance(body.get(list_field), list):
            raise ProviderError(f"Cursor sent a malformed answer to POST {path} (no {list_field} list)")
        return body

    # --- credential check -------------------------------------------------------------------------
    def check_connection(self) -> str:
        return f"Connected: {len(self.members())} team members"

    def members(self) -> list[CursorMember]:
        body = self.http.request("GET", "/teams/members")
        try:
            return [
                CursorMember(email=str(m["email"]), name=str(m.get("name") or ""), role=str(m.get("role") or ""))
                for m in body["teamMembers"]
            ]
        except (KeyError, TypeError, AttributeError) as e:
            raise ProviderError("Cursor sent a malformed answer to GET /teams/members") from e

    # --- usage ------------------------------------------------------------------------------------
    def pull_coding_day(self, *, day: date) -> Iterator[list[CodingUsageRow]]:
        """One UTC day of every member: their rows (see PersonDay.rows), one list for the whole day."""
        rows = [row for found in self.person_days(start=day, end=day) for row in found.rows()]
        if rows:
            yield rows

    def person_days(self, *, start: date, end: date) -> list[PersonDay]:
        """Every member's days in [start, end] (UTC dates, inclusive): the daily usage report's outcome counts and
        the usage events' tokens and cost per model, merged per (email, day)."""
        days: dict[tuple[str, date], PersonDay] = {}

        def person_day(email: str, day: date) -> PersonDay:
            return days.setdefault((email.lower(), day), PersonDay(email=email.lower(), day=day))

        for row in self.daily_usage(start=start, end=end):
            found = person_day(row["email"], row["day"])
            found.active = found.active or row["active"]
            for name, value in row["outcomes"].items():
                found.outcomes[name] = found.outcomes.get(name, 0) + value
        for page in self.usage_events(start=_day_start(start), end=_day_start(end + timedelta(days=1))):
            for event in page:
                usage = person_day(event["email"], event["day"]).models.setdefault(event["model"], ModelUsage())
                for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
                    setattr(usage, name, getattr(usage, name) + event[name])
                usage.requests += 1
                usage.cost_usd += event["cost_cents"]
        for found in days.values():
            for usage in found.models.values():
                usage.cost_usd = (usage.cost_usd / 100).quantize(MICRO)
        return sorted(days.values(), key=lambda d: (d.day, d.email))

    def daily_usage(self, *, start: date, end: date) -> list[dict[str, Any]]:
        """POST /teams/daily-usage-data in spans of at most RANGE_DAYS: per member and day, the outcome counts."""
        rows: list[dict[str, Any]] = []
        first = start
        while first <= end:
            last = min(end, first + timedelta(days=RANGE_DAYS - 1))
            payload = {"startDate": epoch_ms(_day_start(first)), "endDate": epoch_ms(_day_start(last + timedelta(1)))}
            body = self._post("/teams/daily-usage-data", payload, list_field="data")
            try:
                for item in body["data"]:
                    day = _ms_time(item["date"]).date()
                    if first <= day <= last:
                        rows.append(self._daily_row(item, day))
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
                raise ProviderError("Cursor sent a malformed daily usage row") from e
            first = last + timedelta(days=1)
        return rows

    @staticmethod
    def _daily_row(item: dict[str, Any], day: date) -> dict[str, Any]:
        email = item.get("email") or NO_EMAIL
        if not isinstance(email, str):
            raise TypeError("an email that is not a string")
        outcomes = {name: token_count(item.get(wire)) for wire, name in OUTCOME_FIELDS.items()}
        return {"email": email, "day": day, "active": bool(item.get("isActive")), "outcomes": outcomes}

    def usage_events(self, *, start: datetime, end: datetime) -> Iterator[list[dict[str, Any]]]:
        """POST /teams/filtered-usage-events page by page: one dict per event (email, day, model, tokens, cents).
        Events that are not token-based (included in the plan) carry no cost and count as one request."""
        page = 1
        while page <= MAX_PAGES:
            payload = {"startDate": epoch_ms(start), "endDate": epoch_ms(end), "page": page,
                       "pageSize": EVENTS_PAGE_SIZE}  # fmt: skip
            body = self._post("/teams/filtered-usage-events", payload, list_field="usageEvents")
            try:
                events = [self._event(item) for item in body["usageEvents"]]
                has_next = bool(body.get("pagination", {}).get("hasNextPage"))
            except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, OverflowError) as e:
                raise ProviderError("Cursor sent a malformed usage event") from e
            events = [e for e in events if start <= e["at"] < end]
            if events:
                yield events
            if not has_next:
                return
            page += 1
        raise ProviderError(f"Cursor kept paging usage events past page {MAX_PAGES}")

    @staticmethod
    def _event(item: dict[str, Any]) -> dict[str, Any]:
        at = _ms_time(item["timestamp"])
        email = item.get("userEmail") or NO_EMAIL
        if not isinstance(email, str):
            raise TypeError("an email that is not a string")
        tokens = item.get("tokenUsage") or {}
        cached, written = token_count(tokens.get("cacheReadTokens")), token_count(tokens.get("cacheWriteTokens"))
        cents = _number(tokens.get("totalCents"))
        if cents < 0:
            raise ValueError("negative cost")
        return {
            "at": at,
            "day": at.date(),
            "email": email,
            "model": str(item.get("model") or "unknown")[:100],
            "input_tokens": token_count(tokens.get("inputTokens")) + cached + written,
            "output_tokens": token_count(tokens.get("outputTokens")),
            "cache_read_tokens": cached,
            "cache_write_tokens": written,
            "cost_cents": cents,
        }

    # --- spend and member limits ----------------------------------------------------------------------
    def member_spend(self) -> tuple[datetime | None, list[MemberSpend]]:
        """POST /teams/spend, every page: the billing cycle's start and each member's spend and hard limit."""
        members: list[MemberSpend] = []
        cycle_start, page = None, 1
        while page <= MAX_PAGES:
            body = self._post("/teams/spend", {"page": page, "pageSize": SPEND_PAGE_SIZE}, list_field="teamMemberSpend")
            try:
                members += [self._member_spend(item) for item in body["teamMemberSpend"]]
                if body.get("subscriptionCycleStart") is not None:
                    cycle_start = _ms_time(body["subscriptionCycleStart"])
                pages = token_count(body.get("totalPages"))
            except (KeyError, TypeError, ValueError, ArithmeticError, OverflowError) as e:
                raise ProviderError("Cursor sent a malformed answer to POST /teams/spend") from e
            if page >= pages or not body["teamMemberSpend"]:
                return cycle_start, members
            page += 1
        raise ProviderError(f"Cursor kept paging spend past page {MAX_PAGES}")

    @staticmethod
    def _member_spend(item: dict[str, Any]) -> MemberSpend:
        limit = item.get("hardLimitOverrideDollars")
        return MemberSpend(
            email=str(item["email"]).lower(),
            name=str(item.get("name") or ""),
            spend_usd=(_number(item.get("spendCents")) / 100).quantize(Decimal("0.01")),
            hard_limit_usd=_number(limit) if limit is not None else None,
            premium_requests=token_count(item.get("fastPremiumRequests")),
        )

    def member_limit_set(self, *, email: str, dollars: int | None) -> None:
        """POST /teams/user-spend-limit: the member's hard limit in whole dollars (None removes it). Checked first:
        a call Cursor would refuse is never sent."""
        if (problem := spend_limit_error(email=email, dollars=dollars)) is not None:
            raise ProviderError(f"Not sent to Cursor: {problem}", permanent=True)
        body = self.http.request(
            "POST", "/teams/user-spend-limit", json={"userEmail": email, "spendLimitDollars": dollars}
        )
        if not isinstance(body, dict) or body.get("outcome") != "success":
            message = body.get("message") if isinstance(body, dict) else None
            detail = redact(str(message or "no outcome"), self.credential)[:ERROR_TEXT_LIMIT]
            raise ProviderError(f"Cursor refused the spend limit for {email}: {detail}", permanent=True)
