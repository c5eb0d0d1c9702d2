"""Who sees what on the boards, applied to one request: the filters a person may use (?team=, ?cost_center=,
?quarter=), and an engineer's own position in their team without anyone else's name.

The rule itself is accounts.permissions.Access.leaderboard_scope() (set by the budget policy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest

from accounts.models import CostCenter, Membership, Team, User
from accounts.permissions import Access, BoardScope
from allocator.converters import MAX_ID
from allocator.money import ZERO
from allocator.quarters import Quarter
from allocator.usage.summaries import usage_totals
from budgets.reports.efficiency import Efficiency, efficiency_of, medians
from budgets.reports.leaderboards import BoardRow


def id_param(request: HttpRequest, name: str) -> int | None:
    """A numeric filter: missing or blank is None, anything not a number is a 400, an impossible id a 404."""
    raw = (request.GET.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise BadRequest(f"?{name}= must be a number.")
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise Http404
    return value


@dataclass
class BoardFilters:
    scope: BoardScope
    quarter: Quarter
    team: Team | None
    cost_center: CostCenter | None
    teams: list[Team]  # the teams this person may pick
    cost_centers: list[CostCenter]  # the cost centers they may pick (finance-wide viewers only)
    team_given: bool = False  # ?team= chose the team (else it is the default one, or none)

    @property
    def base_query(self) -> str:
        """The team and cost center filters as a query string prefix ("team=3&"), for quarter links."""
        parts = []
        if self.team:
            parts.append(f"team={self.team.pk}&")
        if self.cost_center:
            parts.append(f"cost_center={self.cost_center.pk}&")
        return "".join(parts)

    @property
    def query(self) -> str:
        """The filters as a query string, for links that keep them (sort, page, tabs)."""
        return f"{self.base_query}quarter={self.quarter}"

    @property
    def current_quarter(self) -> Quarter:
        return Quarter.current()


def board_filters(request: HttpRequest) -> BoardFilters:
    """The filters of a board page, checked against what this person may see: a team they may not see is a 404.
    Someone who sees only some teams always looks at one of them (the first, unless ?team= picks another)."""
    scope = Access.for_request(request).leaderboard_scope()
    quarter = Quarter.from_param(request.GET.get("quarter"))
    team_id, cost_center_id = id_param(request, "team"), id_param(request, "cost_center")
    teams_qs = Team.objects.select_related("cost_center").order_by("name")
    teams = list(teams_qs if scope.all_teams else teams_qs.filter(pk__in=scope.team_ids))
    by_pk = {t.pk: t for t in teams}
    if team_id is not None and team_id not in by_pk:
        raise Http404
    team = by_pk.get(team_id) if team_id else (None if scope.all_teams or not teams else teams[0])
    cost_centers: list[CostCenter] = []
    cost_center = None
    if scope.all_teams:
        cost_centers = list(CostCenter.objects.order_by("code"))
        if cost_center_id is not None:
            cost_center = next((c for c in cost_centers if c.pk == cost_center_id), None)
            if cost_center is None:
                raise Http404
    return BoardFilters(scope, quarter, team, cost_center, teams, cost_centers, team_given=team_id is not None)


@dataclass
class Position:
    """One person's place in one team's board, with the team's medians and no other names."""

    team: Team
    members: int
    rank: int | None  # by spend, 1 = the largest; None = no usage this quarter
    mine: Efficiency | None
    medians: dict[str, Decimal | None]

    @property
    def top_percent(self) -> int | None:
        """The N of "in the top N %" of the team by spend (members without usage rank below everyone else)."""
        if self.rank is None or not self.members:
            return None
        return max(1, math.ceil(self.rank * 100 / self.members))

    @property
    def standing(self) -> str:
        """ "top 20 %" in the upper half of the team by spend, "bottom 30 %" in the lower half."""
        top = self.top_percent
        if top is None or self.rank is None:
            return ""
        if top <= 50:
            return f"top {top}\u00a0%"
        return f"bottom {max(1, math.ceil((self.members - self.rank + 1) * 100 / self.members))}\u00a0%"


def positions(*, user: User, team_ids: frozenset[int], quarter: Quarter) -> list[Position]:
    """The signed-in person's position in each of their teams: one query per team plus two."""
    if not team_ids:
        return []
    teams = list(Team.objects.filter(pk__in=team_ids).order_by("name"))
    counts: dict[int, int] = {}
    for team_id in Membership.objects.filter(team__in=teams, user__is_active=True).values_list("team_id", flat=True):
        counts[team_id] = counts.get(team_id, 0) + 1
    out = []
    for team in teams:
        totals = usage_totals(quarter=quarter, kind="user", team_id=team.pk)
        people = [
            efficiency_of(BoardRow(ref=t["ref"], name="", cost=t["cost_usd"], tokens=0, requests=None, totals=t))
            for t in totals
            if t["cost_usd"] > ZERO
        ]
        people.sort(key=lambda e: -e.cost)
        mine = next((p for p in people if p.ref == str(user.pk)), None)
        rank = people.index(mine) + 1 if mine else None
        out.append(Position(team, max(counts.get(team.pk, 0), len(people)), rank, mine, medians(people)))
    return out
