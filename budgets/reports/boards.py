"""What each board page shows, read once for the pages and the API: a tab of the leaderboard ranked, the
efficiency of the teams and of one team's people, adoption per team, and one's own positions in the teams whose
names one may not see. Filters and who sees whom come from visibility.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from accounts.models import Team, User
from budgets.reports.adoption import Member, TeamAdoption, team_adoption
from budgets.reports.efficiency import Efficiency, most_efficient, people_efficiency
from budgets.reports.leaderboards import TABS, BoardRow, board_rows, ranked
from budgets.reports.visibility import BoardFilters, Position, positions


def _cost_center_id(filters: BoardFilters) -> int | None:
    return filters.cost_center.pk if filters.cost_center else None


def shows_board(filters: BoardFilters) -> bool:
    """The leaderboard shows a board with names (else only one's own positions)."""
    return filters.scope.all_teams or filters.team is not None


def leaderboard_rows(filters: BoardFilters, *, tab: str, sort: str) -> list[BoardRow]:
    """The rows of one tab, in board order. The teams tab lists teams: the team filter does not narrow it."""
    kind = TABS[tab][0]
    scope = filters.scope
    if kind == "team":
        refs = None if scope.all_teams else [str(pk) for pk in sorted(scope.team_ids)]
        rows = board_rows(quarter=filters.quarter, kind=kind, cost_center_id=_cost_center_id(filters), refs=refs)
    else:
        team_id = filters.team.pk if filters.team else None
        rows = board_rows(quarter=filters.quarter, kind=kind, team_id=team_id, cost_center_id=_cost_center_id(filters))
    return ranked(rows, sort=sort)


def hidden_positions(*, user: User, filters: BoardFilters, named: bool) -> list[Position]:
    """One's own position in each of one's teams whose board (with names) is not shown."""
    shown = frozenset(t.pk for t in filters.teams) if named else frozenset()
    return positions(user=user, team_ids=filters.scope.own_team_ids - shown, quarter=filters.quarter)


@dataclass
class EfficiencyBoard:
    teams: list[Efficiency]
    team_medians: dict[str, Decimal | None]
    team: Team | None = None  # the team whose people are shown (finance picks one)
    people: list[Efficiency] = field(default_factory=list)  # the most expensive first
    medians: dict[str, Decimal | None] = field(default_factory=dict)
    best: Efficiency | None = None
    idle: list[Member] = field(default_factory=list)  # no usage this quarter or last
    members: int = 0


def efficiency_board(filters: BoardFilters) -> EfficiencyBoard | None:
    """Efficiency per team and per person of one team; None for someone who sees no board."""
    scope = filters.scope
    if not scope.sees_boards:
        return None
    refs = None if scope.all_teams else [str(pk) for pk in sorted(scope.team_ids)]
    team_rows = board_rows(quarter=filters.quarter, kind="team", cost_center_id=_cost_center_id(filters), refs=refs)
    board = EfficiencyBoard(*people_efficiency(team_rows))
    team = filters.team if filters.team_given or not scope.all_teams else None  # finance: pick from the teams
    if team:
        people, med = people_efficiency(board_rows(quarter=filters.quarter, kind="user", team_id=team.pk))
        adoption = team_adoption(teams=[team], today=timezone.now().date())[0]
        board.team, board.people, board.medians = team, people, med
        board.best, board.idle, board.members = most_efficient(people), adoption.idle, len(adoption.members)
    return board


def adoption_board(filters: BoardFilters) -> list[TeamAdoption]:
    """Adoption of the teams one may see by name (narrowed by the team or cost center filter), then one's own
    other teams as counts only (`names` False)."""
    if filters.team and filters.team_given:
        teams = [filters.team]
    elif filters.cost_center:
        teams = [t for t in filters.teams if t.cost_center_id == filters.cost_center.pk]
    else:
        teams = filters.teams
    named = {t.pk for t in teams}
    scope = filters.scope
    own: list[Team] = []
    if scope.own_team_ids and not scope.all_teams:
        own_qs = Team.objects.filter(pk__in=scope.own_team_ids).select_related("cost_center").order_by("name")
        own = [t for t in own_qs if t.pk not in named]
    items = team_adoption(teams=teams + own, today=timezone.now().date())
    for item in items:
        item.names = item.team.pk in named
    return items
