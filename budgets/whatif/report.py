"""The what-if report the page, its CSV and the API share: the scenario's old and new cost per team and per
project with the difference, the assumptions in words, and the savings opportunities.

Queries: the rollup lines (one), manual prices (one), the visible teams and projects (two), whatever the period.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Project, Team
from allocator.money import ZERO
from allocator.providers import kind_choices
from budgets.reports.exports import money, text
from budgets.whatif.repricing import Line, Prices, Scenario, assumptions, reprice, small_models, usage_lines
from budgets.whatif.savings import Savings, savings_opportunities

NO_TEAM = "Unattributed (no key)"
NO_PROJECT = "Personal keys (no project)"
PAGE_ROWS = 50  # rows of each table on the page; the CSV and the API have them all


@dataclass
class CostRow:
    kind: str  # "team" or "project"
    ref: int | None
    name: str
    team: str
    old: Decimal = ZERO
    new: Decimal = ZERO

    @property
    def difference(self) -> Decimal:
        return self.new - self.old

    @property
    def saving(self) -> Decimal:
        return self.old - self.new

    @property
    def change(self) -> Decimal | None:
        """The difference as a fraction of the old cost (None when there was none)."""
        return self.difference / self.old if self.old else None


@dataclass
class WhatIf:
    scenario: Scenario
    assumptions: list[str]
    teams: list[CostRow]
    projects: list[CostRow]
    total: CostRow
    targets: list[tuple[str, str]]
    savings: Savings


def visible_org(team_ids: frozenset[int] | None) -> tuple[list[Team], list[Project]]:
    """The teams and projects one may choose and see (None: all of them); two queries."""
    teams = Team.objects.order_by("name")
    projects = Project.objects.select_related("team").order_by("name")
    if team_ids is not None:
        teams, projects = teams.filter(pk__in=team_ids), projects.filter(team_id__in=team_ids)
    return list(teams), list(projects)


def what_if(
    *, scenario: Scenario, teams: list[Team], projects: list[Project], prices: Prices,
    team_ids: frozenset[int] | None, names: dict[str, str],
) -> WhatIf:  # fmt: skip
    """Price the scenario's period under its change, for the usage of `team_ids` (None: everything)."""
    lines = reprice(usage_lines(start=scenario.start, end=scenario.end, team_ids=team_ids), scenario, prices)
    team_names = {t.pk: t.name for t in teams}
    project_of = {p.pk: p for p in projects}
    by_team: dict[int | None, CostRow] = {}
    by_project: dict[tuple[int | None, int | None], CostRow] = {}
    total = CostRow("total", None, "All", "")
    for line in lines:
        team = by_team.get(line.team_id) or by_team.setdefault(
            line.team_id, CostRow("team", line.team_id, team_names.get(line.team_id, NO_TEAM), "")
        )
        key = (line.team_id, line.project_id)
        project = by_project.get(key) or by_project.setdefault(key, _project_row(line, project_of, team.name))
        for row in (team, project, total):
            row.old += line.cost
            row.new += line.new_cost
    order = _largest_first
    names_by_scope = {("team", t.pk): t.name for t in teams} | {("project", p.pk): p.name for p in projects}
    return WhatIf(
        scenario=scenario,
        assumptions=assumptions(scenario, names=names),
        teams=order(by_team.values()),
        projects=order(by_project.values()),
        total=total,
        targets=small_models(lines, prices),
        savings=savings_opportunities(lines, scenario, prices, names=names_by_scope),
    )


def _project_row(line: Line, project_of: dict[int, Project], team_name: str) -> CostRow:
    project = project_of.get(line.project_id) if line.project_id is not None else None
    if project is None:
        return CostRow("project", None, NO_PROJECT if line.team_id is not None else NO_TEAM, team_name)
    return CostRow("project", project.pk, project.name, team_name)


def _largest_first(rows: Iterable[CostRow]) -> list[CostRow]:
    """The largest difference first (either way), then the largest cost."""
    return sorted(rows, key=lambda r: (-abs(r.difference), -r.old, r.team.lower(), r.name.lower()))


def provider_name(kind: str) -> str:
    """A provider kind's display name ("" for none)."""
    return dict(kind_choices()).get(kind, kind) if kind else ""


CSV_COLUMNS = ["level", "team", "project", "old_cost_usd", "new_cost_usd", "difference_usd"]


def what_if_csv(report: WhatIf) -> Iterator[list[str]]:
    """The report as CSV rows: the assumptions first (one "# assumption" row each), a blank row, then the header,
    one row per team, one per project, and the total. Money with six decimal places."""
    for sentence in report.assumptions:
        yield ["# assumption", text(sentence)]
    yield []
    yield CSV_COLUMNS
    for row in report.teams:
        yield ["team", text(row.name), "", money(row.old), money(row.new), money(row.difference)]
    for row in report.projects:
        yield ["project", text(row.team), text(row.name), money(row.old), money(row.new), money(row.difference)]
    total = report.total
    yield ["total", "", "", money(total.old), money(total.new), money(total.difference)]
