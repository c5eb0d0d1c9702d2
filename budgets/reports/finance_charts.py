"""The finance overview's charts, from the daily summaries (never the rollups): daily spend stacked by team and by
provider for the quarter, and build (R&D) vs run (cost of goods sold) per month for this and the previous quarter.
Three queries on the summary table plus one for team names, whatever the size of the organisation."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Team
from allocator.providers import kind_choices
from allocator.quarters import Quarter
from allocator.usage.models import SummaryKind
from allocator.usage.summaries import daily_series
from budgets.reports import charts

CLASS_LABELS = {"build": "Build (R&D)", "run": "Run (cost of goods sold)", "unattributed": "No key (unattributed)"}
CLASS_RULE = (
    "Run is usage on keys of run projects (cost of goods sold); build is everything else on a key: personal keys and "
    "build projects (R&D). Usage the provider could not tie to a key is shown apart."
)


@dataclass
class FinanceCharts:
    by_team: charts.StackedChart
    by_provider: charts.StackedChart
    build_run: charts.StackedChart
    class_rule: str = CLASS_RULE


def finance_charts(*, quarter: Quarter) -> FinanceCharts:
    days = charts.days_of(quarter.start, quarter.end)
    teams = daily_series(kind=SummaryKind.TEAM, refs=None, start=quarter.start, end=quarter.end)
    names = {str(t.pk): t.name for t in Team.objects.filter(pk__in=[int(r) for r in teams if r.isdigit()])}
    by_team = charts.stacked(
        title=f"Daily spend in {quarter}, by team",
        series={names.get(ref, f"team {ref}"): values for ref, values in teams.items()},
        columns=days,
    )
    providers = daily_series(kind=SummaryKind.PROVIDER, refs=None, start=quarter.start, end=quarter.end)
    labels = dict(kind_choices())
    by_provider = charts.stacked(
        title=f"Daily spend in {quarter}, by provider",
        series={labels.get(ref, ref): values for ref, values in providers.items()},
        columns=days,
    )
    start = quarter.previous().start
    classes = daily_series(kind=SummaryKind.CLASS, refs=None, start=start, end=quarter.end)
    build_run = charts.stacked(
        title=f"Build vs run per month, {quarter.previous()} and {quarter}",
        series=charts.by_month({CLASS_LABELS.get(ref, ref): values for ref, values in classes.items()}),
        columns=charts.months_of(start, quarter.end),
        x_label_every=1,
    )
    return FinanceCharts(by_team=by_team, by_provider=by_provider, build_run=build_run)
