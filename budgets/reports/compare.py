"""Quarter over quarter for one team or one cost center: this quarter against the previous one up to the same
day and in full, per member / project / model (a team) or per team / project / model (a cost center).
Read from the usage summaries: three queries per section, plus the names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allocator.quarters import Quarter
from budgets.reports.leaderboards import BoardRow, board_rows, board_totals, ranked
from budgets.reports.svg import Bar, hbars

TEAM_SECTIONS = [("user", "People", "Person"), ("project", "Projects", "Project"), ("model", "Models", "Model")]
COST_CENTER_SECTIONS = [("team", "Teams", "Team"), ("project", "Projects", "Project"), ("model", "Models", "Model")]


@dataclass
class Section:
    kind: str
    title: str
    noun: str
    rows: list[BoardRow]
    totals: dict[str, Any]
    chart: str


def quarter_comparison(
    *, quarter: Quarter, team_id: int | None = None, cost_center_id: int | None = None
) -> list[Section]:
    sections = TEAM_SECTIONS if team_id is not None else COST_CENTER_SECTIONS
    out = []
    for kind, title, noun in sections:
        rows = board_rows(quarter=quarter, kind=kind, team_id=team_id, cost_center_id=cost_center_id)
        rows = ranked(rows, sort="cost")
        bars = [Bar(r.name, r.cost, r.previous_cost) for r in rows]
        previous = str(quarter.previous())
        chart = hbars(bars, title=f"{title}: {quarter} against {previous}", previous_label=previous)
        out.append(Section(kind, title, noun, rows, board_totals(rows), chart))
    return out
