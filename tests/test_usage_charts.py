"""The charts: SVG with a value per bar on hover, a legend, and a table whose numbers equal the sums they show."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Project
from allocator.models import DailyRollup
from allocator.quarters import Quarter
from allocator.usage.summaries import summaries_rebuild
from budgets.reports import charts
from tests.budget_factories import MID_QUARTER, pinned_clock
from tests.conftest import login
from tests.factories import KeyFactory, ProjectFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


def rollup(key, *, day, cost, model="gpt-4o") -> DailyRollup:
    return DailyRollup.objects.create(
        day=day,
        account=key.account,
        provider=key.account.kind,
        key=key,
        owner_user_id=key.owner_user_id,
        owner_project_id=key.owner_project_id,
        team_id=key.team_id,
        cost_center_id=key.team.cost_center_id,
        model=model,
        cost_usd=Decimal(cost),
    )


def test_stacked_chart_folds_small_series_and_keeps_the_totals():
    start = date(2026, 10, 1)
    series = {f"s{i}": {start: Decimal(i + 1), start + timedelta(days=1): Decimal("0.5")} for i in range(9)}
    chart = charts.stacked(title="t", series=series, columns=charts.days_of(start, start + timedelta(days=3)))
    assert [item.name for item in chart.legend] == ["s8", "s7", "s6", "s5", "s4", charts.OTHER]
    assert chart.total == sum((sum(v.values()) for v in series.values()), Decimal(0))
    assert [row[2] for row in chart.rows] == [Decimal(45), Decimal("4.5"), Decimal(0)]
    assert sum(chart.column_totals) == chart.total
    assert all(s.title.endswith(")") for s in chart.segments) and len(chart.segments) == 12


def test_an_empty_chart_says_so():
    chart = charts.stacked(title="t", series={}, columns=charts.days_of(date(2026, 10, 1), date(2026, 10, 3)))
    assert chart.empty and not chart.segments


def test_team_page_charts_daily_spend_by_model(simulated, manager, engineer, team):
    key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    rollup(key, day=MID_QUARTER.date(), cost="3", model="gpt-4o")
    rollup(key, day=MID_QUARTER.date(), cost="1", model="gpt-4o-mini")
    response = login(manager).get(reverse("budgets:team", args=[team.pk]))
    html = response.content.decode()
    assert 'id="team-usage"' in html and "<svg" in html
    assert "gpt-4o: $3.00 (of $4.00)" in html and "gpt-4o-mini: $1.00 (of $4.00)" in html


def test_finance_overview_charts_equal_the_rollup_sums(simulated, finance, manager, engineer, team, other_team):
    quarter = Quarter.current()
    run = ProjectFactory(team=other_team, kind=Project.Kind.RUN)
    personal = KeyFactory(account=simulated, owner_user=engineer, team=team)
    shipped = KeyFactory(account=simulated, owner_project=run, owner_user=None, team=other_team)
    rollup(personal, day=MID_QUARTER.date(), cost="5")
    rollup(personal, day=MID_QUARTER.date() - timedelta(days=1), cost="2")
    rollup(shipped, day=MID_QUARTER.date(), cost="7")
    rollup(shipped, day=quarter.previous().start, cost="11")
    summaries_rebuild(quarter=quarter)
    summaries_rebuild(quarter=quarter.previous())

    response = login(finance).get(reverse("budgets:overview"))
    panel = response.context["charts"]
    in_quarter = DailyRollup.objects.filter(day__gte=quarter.start, day__lt=quarter.end)
    total = sum(r.cost_usd for r in in_quarter)
    assert panel.by_team.total == panel.by_provider.total == total == Decimal("14")
    assert {i.name: i.total for i in panel.by_team.legend} == {"Search": Decimal("7"), "Growth": Decimal("7")}
    months = {label: values for label, values, _ in panel.build_run.rows}
    assert panel.build_run.total == Decimal("25")
    build = panel.build_run.series_names.index("Build (R&D)")
    run_i = panel.build_run.series_names.index("Run (cost of goods sold)")
    this_month = MID_QUARTER.strftime("%b %Y")
    assert months[this_month][build] == Decimal("7") and months[this_month][run_i] == Decimal("7")
    html = response.content.decode()
    assert 'id="spend-charts"' in html and "Build vs run per month" in html
    # a manager's overview shows only their teams: no organisation-wide charts
    assert 'id="spend-charts"' not in login(manager).get(reverse("budgets:overview")).content.decode()


def test_finance_charts_queries_do_not_grow_with_teams_or_days(simulated, finance):
    quarter = Quarter.current()
    client = login(finance)
    team = TeamFactory()
    rollup(KeyFactory(account=simulated, team=team), day=MID_QUARTER.date(), cost="1")
    summaries_rebuild(quarter=quarter)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("budgets:overview"))
    for _ in range(8):
        key = KeyFactory(account=simulated, team=TeamFactory())
        for d in range(10):
            rollup(key, day=MID_QUARTER.date() - timedelta(days=d), cost="1")
    summaries_rebuild(quarter=quarter)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("budgets:overview"))
    assert len(many) == len(few)
