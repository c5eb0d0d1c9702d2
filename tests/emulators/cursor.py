"""Emulator of Cursor's Admin API (https://cursor.com/docs/account/teams/admin-api).

Basic authentication with the API key as the username. Seed state with `add_member`, `add_day` and `add_event`
(or `seed_days` for a deterministic month). Like the real API it serves only the last `history_days` days
(older days answer empty, as Cursor's rolling window does), pages usage events and spend by `page`/`pageSize`,
refuses daily-usage spans over 30 days, and keeps each member's hard spend limit (POST /teams/user-spend-limit),
reported back by POST /teams/spend as `hardLimitOverrideDollars`. `now` is the emulator's clock (the real one
unless set), so tests can move it day by day.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.emulators.base import Emulator, EmulatorError, RecordedRequest, Reply, json_reply

HISTORY_DAYS = 7
RANGE_DAYS = 30
DAY_MS = 86_400_000
DAILY_FIELDS = (
    "totalLinesAdded", "totalLinesDeleted", "acceptedLinesAdded", "acceptedLinesDeleted", "totalApplies",
    "totalAccepts", "totalRejects", "totalTabsShown", "totalTabsAccepted", "composerRequests", "chatRequests",
    "agentRequests", "cmdkUsages", "subscriptionIncludedReqs", "apiKeyReqs", "usageBasedReqs", "bugbotUsages",
)  # fmt: skip
MODELS = ("claude-4-sonnet", "gpt-5", "claude-4-opus")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def day_ms(day: date) -> int:
    return ms(datetime.combine(day, time.min, tzinfo=UTC))


class CursorEmulator(Emulator):
    credential = "key_cursor_emulator_0123456789abcdef"
    name = "cursor-emulator"
    malformed_body = b'{"usageEvents": [{"timestamp": "17'

    def __init__(self, credential: str | None = None) -> None:
        super().__init__(credential)
        self.now: datetime | None = None
        self.history_days = HISTORY_DAYS
        self.members: dict[str, dict[str, Any]] = {}  # email -> {"name", "email", "role"}
        self.days: dict[tuple[str, date], dict[str, Any]] = {}  # (email, day) -> daily usage row
        self.events: list[dict[str, Any]] = []
        self.limits: dict[str, int | None] = {}  # email -> hard limit in dollars
        self.cycle_start: datetime | None = None
        self.route("GET", r"/teams/members", self._members)
        self.route("POST", r"/teams/daily-usage-data", self._daily_usage)
        self.route("POST", r"/teams/spend", self._spend)
        self.route("POST", r"/teams/filtered-usage-events", self._usage_events)
        self.route("POST", r"/teams/user-spend-limit", self._user_spend_limit)

    # --- seeding helpers ------------------------------------------------------------------------------
    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def add_member(self, email: str, name: str = "", role: str = "member") -> dict[str, Any]:
        member = {"name": name or email.split("@")[0].title(), "email": email, "role": role}
        self.members[email] = member
        return member

    def add_day(self, email: str, day: date, **counts: int) -> dict[str, Any]:
        row = {"date": day_ms(day), "isActive": True, **{f: 0 for f in DAILY_FIELDS}, **counts,
               "mostUsedModel": MODELS[0], "clientVersion": "1.7.2", "email": email}  # fmt: skip
        self.days[(email, day)] = row
        return row

    def add_event(self, email: str, at: datetime, *, model: str = MODELS[0], input_tokens: int = 0,
                  output_tokens: int = 0, cache_read: int = 0, cache_write: int = 0,
                  cents: float | None = None) -> dict[str, Any]:  # fmt: skip
        """A usage event; `cents=None` is a request included in the plan (no token usage, no cost)."""
        event: dict[str, Any] = {"timestamp": str(ms(at)), "model": model, "maxMode": False, "isFreeBugbot": False,
                                 "userEmail": email, "requestsCosts": 1}  # fmt: skip
        if cents is None:
            event |= {"kind": "Included in Business", "isTokenBasedCall": False}
        else:
            event |= {"kind": "Usage-based", "isTokenBasedCall": True, "tokenUsage": {
                "inputTokens": input_tokens, "outputTokens": output_tokens, "cacheWriteTokens": cache_write,
                "cacheReadTokens": cache_read, "totalCents": cents}}  # fmt: skip
        self.events.append(event)
        return event

    def seed_days(self, emails: list[str], first: date, last: date, *, seed: int = 14) -> None:
        """Members and a deterministic stretch of days: outcome counts and a few usage events per person and day."""
        rng = random.Random(seed)
        for email in emails:
            self.members.setdefault(email, self.add_member(email))
        day = first
        while day <= last:
            for email in emails:
                self.add_day(email, day, totalLinesAdded=rng.randint(0, 900), totalLinesDeleted=rng.randint(0, 300),
                             acceptedLinesAdded=rng.randint(0, 400), totalTabsAccepted=rng.randint(0, 200),
                             totalAccepts=rng.randint(0, 40), chatRequests=rng.randint(0, 30),
                             agentRequests=rng.randint(0, 20), composerRequests=rng.randint(0, 10))  # fmt: skip
                for n in range(rng.randint(0, 4)):
                    at = datetime.combine(day, time(9 + n * 2, rng.randint(0, 59)), tzinfo=UTC)
                    included = rng.random() < 0.25
                    self.add_event(email, at, model=rng.choice(MODELS), input_tokens=rng.randint(100, 9000),
                                   output_tokens=rng.randint(50, 3000), cache_read=rng.randint(0, 20000),
                                   cache_write=rng.randint(0, 6000),
                                   cents=None if included else round(rng.uniform(0.5, 60), 5))  # fmt: skip
            day += timedelta(days=1)

    # --- the API ----------------------------------------------------------------------------------------
    def check_auth(self, request: RecordedRequest) -> None:
        header = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.credential}:".encode()).decode()
        if header != expected:
            raise EmulatorError(401, "Invalid API key", "Unauthorized")

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        return json_reply({"error": code or ("Too Many Requests" if status == 429 else "Error"), "message": message},
                          status)  # fmt: skip

    def _body(self, request: RecordedRequest) -> dict[str, Any]:
        if request.json is None and request.body:
            raise EmulatorError(400, "Body must be JSON", "Bad Request")
        if not isinstance(request.json or {}, dict):
            raise EmulatorError(400, "Body must be a JSON object", "Bad Request")
        return request.json or {}

    @staticmethod
    def _int(body: dict[str, Any], name: str, default: int | None = None) -> int | None:
        value = body.get(name, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise EmulatorError(400, f"{name} must be a number", "Bad Request")
        return value

    def _oldest_ms(self) -> int:
        """Start of the oldest day still served."""
        return day_ms((self.clock() - timedelta(days=self.history_days)).date())

    def _members(self, request: RecordedRequest) -> Reply:
        return json_reply({"teamMembers": list(self.members.values())})

    def _daily_usage(self, request: RecordedRequest) -> Reply:
        body = self._body(request)
        start, end = self._int(body, "startDate"), self._int(body, "endDate")
        if start is None or end is None:
            raise EmulatorError(400, "startDate and endDate are required", "Bad Request")
        if end < start or end - start > RANGE_DAYS * DAY_MS:
            raise EmulatorError(400, "Date range cannot exceed 30 days", "Bad Request")
        oldest = self._oldest_ms()
        rows = [r for r in self.days.values() if start <= r["date"] < end and r["date"] >= oldest]
        rows.sort(key=lambda r: (r["date"], r["email"]))
        return json_reply({"data": rows, "period": {"startDate": start, "endDate": end}})

    def _page(self, body: dict[str, Any], default_size: int) -> tuple[int, int]:
        page, size = self._int(body, "page", 1), self._int(body, "pageSize", default_size)
        if page < 1 or not 1 <= size <= 1000:
            raise EmulatorError(400, "page must be ≥ 1 and pageSize 1–1000", "Bad Request")
        return page, size

    def _usage_events(self, request: RecordedRequest) -> Reply:
        body = self._body(request)
        page, size = self._page(body, 10)
        now = ms(self.clock())
        start, end = self._int(body, "startDate", now - HISTORY_DAYS * DAY_MS), self._int(body, "endDate", now)
        start = max(start, self._oldest_ms())
        email = body.get("email")
        events = [e for e in self.events if start <= int(e["timestamp"]) < end
                  and (email is None or e["userEmail"] == email)]  # fmt: skip
        events.sort(key=lambda e: -int(e["timestamp"]))
        pages = max(1, -(-len(events) // size))
        chunk = events[(page - 1) * size : page * size]
        return json_reply({
            "totalUsageEventsCount": len(events),
            "pagination": {"numPages": pages, "currentPage": page, "pageSize": size,
                           "hasNextPage": page < pages, "hasPreviousPage": page > 1},
            "usageEvents": chunk,
            "period": {"startDate": start, "endDate": end},
        })  # fmt: skip

    def spend_cents(self, email: str) -> int:
        """A member's spend this billing cycle: the cost of their usage events since the cycle started."""
        since = ms(self.cycle_start) if self.cycle_start else 0
        cents = sum(
            Decimal(str(e["tokenUsage"]["totalCents"]))
            for e in self.events
            if e["userEmail"] == email and "tokenUsage" in e and int(e["timestamp"]) >= since
        )
        return int(Decimal(cents).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def _spend(self, request: RecordedRequest) -> Reply:
        body = self._body(request)
        page, size = self._page(body, 50)
        members = sorted(self.members.values(), key=lambda m: m["email"])
        rows = [
            {"spendCents": self.spend_cents(m["email"]), "fastPremiumRequests": 0, "name": m["name"],
             "email": m["email"], "role": m["role"], "hardLimitOverrideDollars": self.limits.get(m["email"]) or 0}
            for m in members
        ]  # fmt: skip
        cycle = self.cycle_start or self.clock().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return json_reply({
            "teamMemberSpend": rows[(page - 1) * size : page * size],
            "subscriptionCycleStart": ms(cycle),
            "totalMembers": len(rows),
            "totalPages": max(1, -(-len(rows) // size)),
        })  # fmt: skip

    def _user_spend_limit(self, request: RecordedRequest) -> Reply:
        body = self._body(request)
        email, dollars = body.get("userEmail"), body.get("spendLimitDollars", "missing")
        if not isinstance(email, str) or "@" not in email:
            return json_reply({"outcome": "error", "message": "Invalid email format"}, 400)
        if email not in self.members:
            return json_reply({"outcome": "error", "message": f"User {email} is not a member of this team"}, 400)
        if dollars == "missing" or (dollars is not None and (isinstance(dollars, bool) or not isinstance(dollars, int)
                                                              or dollars < 0)):  # fmt: skip
            return json_reply({"outcome": "error", "message": "spendLimitDollars must be a whole number or null"}, 400)
        self.limits[email] = dollars
        said = "removed" if dollars is None else f"set to ${dollars}"
        return json_reply({"outcome": "success", "message": f"Spend limit {said} for user {email}"})
