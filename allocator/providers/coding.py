"""Coding tools (Claude Code, GitHub Copilot, Cursor): the connector interface and the rows it returns.

A coding tool is a provider account whose adapter declares `coding_usage` (and `seats` where it lists paid seats).
It mints no keys and has no usage buckets: per UTC day it reports, per person (or API key) and model, tokens, the
tool's own cost and the outcomes the tool counts (sessions, lines, commits, pull requests, accepted suggestions,
requests). The sync stores each day whole, replacing what was stored for that day (allocator/coding/store.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from allocator.providers.base import Capabilities, OptionSpec, Provider

PERSON = "person"  # an identity that is a person (an email, a GitHub login)
API_KEY = "api_key"  # an identity that is an API key (Claude Code run with a Console key)

COUNT = "count"  # the account's spend counts against the person's and the team's budgets
SHOW_ONLY = "show"  # shown on the person page and the boards, not counted
BUDGET_POLICY_OPTION = OptionSpec(
    name="budget_policy",
    label="Budgets",
    help="Count this tool's seat and usage spend against the person's and the team's budgets, or only show it.",
    kind="choice",
    choices=((COUNT, "Count against budgets"), (SHOW_ONLY, "Show only")),
)


@dataclass
class CodingUsageRow:
    """One identity's use of a coding tool on one UTC day and model, as the tool reports it.

    `identity` is what the tool names the user by (an email, a login or an API key's name); `email` the address
    people are matched by, when the tool gives one. `model` is "" on a row that carries only the day's outcome
    counts (tools that count outcomes per day, not per model). Counts the tool does not report are None
    ("n/a", never 0). `counted_via_key`: the spend is already counted through an API key Allocator syncs
    (Claude Code with a Console key), so it is shown but never counted a second time.
    """

    day: date
    identity: str
    identity_kind: str = PERSON
    email: str = ""
    model: str = ""
    customer_type: str = ""
    counted_via_key: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    requests: int | None = None
    sessions: int | None = None
    lines_added: int | None = None
    lines_removed: int | None = None
    commits: int | None = None
    pull_requests: int | None = None
    accepted_suggestions: int | None = None


@dataclass
class SeatRow:
    """One paid seat as the tool lists it. `cost_usd` None: the account's fixed monthly seat price applies."""

    identity: str
    email: str = ""
    plan: str = ""
    cost_usd: Decimal | None = None
    assigned_at: datetime | None = None
    last_activity_at: datetime | None = None


class CodingToolProvider(Provider):
    """Base of the coding-tool connectors. Subclasses override `pull_coding_day` (and `list_seats`)."""

    capabilities = Capabilities(coding_usage=True, request_counts=False)
    usage_bucket_width = "1d"
    cost_is_billed = False  # the cost a tool reports is its bill (Copilot's net amount), not an estimate (Claude Code)
    option_specs: tuple[OptionSpec, ...] = (BUDGET_POLICY_OPTION,)

    @property
    def budget_policy(self) -> str:
        return SHOW_ONLY if self.options.get("budget_policy") == SHOW_ONLY else COUNT

    @property
    def seat_price_usd(self) -> Decimal | None:
        """The fixed monthly price of one seat (option `seat_price_usd`), None when not set."""
        value = self.options.get("seat_price_usd")
        return Decimal(str(value)) if value not in (None, "") else None

    def pull_coding_day(self, *, day: date) -> Iterator[list[CodingUsageRow]]:
        """Yield the rows of one UTC day, one provider page at a time. A day is stored only once all its pages came."""
        raise NotImplementedError

    def list_seats(self) -> list[SeatRow]:
        """The seats paid for now (capability `seats`)."""
        raise NotImplementedError
