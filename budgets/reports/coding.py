"""Coding-tool figures for the person page and the People board, read from the coding summaries (CodingSummary:
one row per person, tool account and quarter), never from the stored days: one query per page.

Spend per tool is the tool's usage (not what was already counted through an API key) plus its seats; the outcome
figures (lines added, commits, pull requests, accepted suggestions) are the tools' own counts, and cost per pull
request divides the tool's spend by the pull requests it reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from allocator.coding.models import CodingSummary
from allocator.coding.rollups import counts_against_budgets
from allocator.money import ZERO
from allocator.quarters import Quarter
from budgets.models import Scope, scope_key
from budgets.provider_cap_models import ProviderCap
from budgets.reports.visibility import BoardFilters

OUTCOMES = ("lines_added", "commits", "pull_requests", "accepted_suggestions")
BOARD_ROWS = 25
TOOLS_NOTE = (
    "Lines, commits, pull requests and accepted suggestions are the tools' own counts, as each tool reports them; "
    "Allocator does not check them against the repositories."
)


def _add(a: int | None, b: int | None) -> int | None:
    return a if b is None else (b if a is None else a + b)


@dataclass
class ToolRow:
    """One tool (provider account) of one person in a quarter."""

    name: str
    counted: bool  # the account's spend counts against budgets
    usage_cost: Decimal
    seat_cost: Decimal
    via_key_cost: Decimal
    tokens: int
    requests: int | None
    sessions: int | None
    lines_added: int | None
    lines_removed: int | None
    commits: int | None
    pull_requests: int | None
    accepted_suggestions: int | None

    @property
    def cost(self) -> Decimal:
        return self.usage_cost + self.seat_cost

    @property
    def cost_per_pull_request(self) -> Decimal | None:
        return (self.cost / self.pull_requests).quantize(Decimal("0.01")) if self.pull_requests else None


def person_tools(*, person_id: int, quarter: Quarter) -> list[ToolRow]:
    """The person's coding tools in `quarter`, costliest first (one query)."""
    rows = CodingSummary.objects.filter(user_id=person_id, quarter_start=quarter.start).select_related("account")
    tools = [
        ToolRow(
            name=s.account.name, counted=counts_against_budgets(s.account), usage_cost=s.usage_cost_usd,
            seat_cost=s.seat_cost_usd, via_key_cost=s.via_key_cost_usd, tokens=s.tokens, requests=s.requests,
            sessions=s.sessions, lines_added=s.lines_added, lines_removed=s.lines_removed, commits=s.commits,
            pull_requests=s.pull_requests, accepted_suggestions=s.accepted_suggestions,
        )  # fmt: skip
        for s in rows
    ]
    return sorted(tools, key=lambda t: (-t.cost, t.name))


def person_member_limits(*, person_id: int) -> list[ProviderCap]:
    """The hard spend limits Allocator keeps for the person at coding tools (budgets/member_caps.py: scope
    "user:<id>"), a failing write first, with its error (one query)."""
    caps = (
        ProviderCap.objects.filter(scope_key=scope_key(Scope.USER, person_id))
        .exclude(state=ProviderCap.State.REMOVED)
        .select_related("account")
    )
    return sorted(caps, key=lambda c: (c.state == ProviderCap.State.IN_STEP, c.account.name))


@dataclass
class PersonTools:
    """One person's row on the People board's coding-tool table."""

    user_id: int
    name: str
    email: str = ""
    cost_by_tool: dict[str, Decimal] = field(default_factory=dict)
    lines_added: int | None = None
    commits: int | None = None
    pull_requests: int | None = None
    accepted_suggestions: int | None = None
    url: str = ""

    @property
    def cost(self) -> Decimal:
        return sum(self.cost_by_tool.values(), ZERO)

    @property
    def cost_per_pull_request(self) -> Decimal | None:
        return (self.cost / self.pull_requests).quantize(Decimal("0.01")) if self.pull_requests else None


@dataclass
class ToolsBoard:
    tools: list[str]
    rows: list[PersonTools]  # the costliest first, at most the limit asked for
    people: int  # how many people use a coding tool here

    def cells(self, row: PersonTools) -> list[Decimal | None]:
        return [row.cost_by_tool.get(tool) for tool in self.tools]


def tools_board(filters: BoardFilters, *, limit: int | None = BOARD_ROWS) -> ToolsBoard:
    """Coding-tool spend and outcomes per person of the board's filter, the `limit` costliest (None: everyone; the
    CSV and the API), in one query. Who may see the rows is the board's rule (boards.shows_board)."""
    summaries = CodingSummary.objects.filter(quarter_start=filters.quarter.start, user__isnull=False)
    if filters.team:
        summaries = summaries.filter(user__memberships__team=filters.team)
    elif filters.cost_center:
        summaries = summaries.filter(user__memberships__team__cost_center=filters.cost_center)
    elif not filters.scope.all_teams:
        summaries = summaries.filter(user__memberships__team_id__in=filters.scope.team_ids)
    people: dict[int, PersonTools] = {}
    tools: set[str] = set()
    seen: set[int] = set()
    # Plain values, not model rows: a company's board reads thousands of summaries.
    columns = ("pk", "user_id", "user__full_name", "user__email", "account__name", "usage_cost_usd", "seat_cost_usd")
    for s in summaries.order_by("pk").values(*columns, *OUTCOMES):
        if s["pk"] in seen:  # a person in two of the filtered teams
            continue
        seen.add(s["pk"])
        row = people.get(s["user_id"])
        if row is None:
            name = s["user__full_name"] or s["user__email"]  # as User.__str__
            row = people[s["user_id"]] = PersonTools(user_id=s["user_id"], name=name, email=s["user__email"])
        tool = s["account__name"]
        row.cost_by_tool[tool] = row.cost_by_tool.get(tool, ZERO) + s["usage_cost_usd"] + s["seat_cost_usd"]
        tools.add(tool)
        for name in OUTCOMES:
            setattr(row, name, _add(getattr(row, name), s[name]))
    ranked = sorted(people.values(), key=lambda r: (-r.cost, r.name.lower()))
    return ToolsBoard(tools=sorted(tools), rows=ranked[:limit], people=len(ranked))
