"""Usage panels other pages show: a key's usage (key page), a team's daily spend by model (team page), the
finance overview's spend charts (by team, by provider, build vs run)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import template

from accounts.models import Team
from allocator.models import DailyRollup, Key
from allocator.money import ZERO, sum_money
from allocator.quarters import Quarter
from budgets.reports import charts
from budgets.reports.finance_charts import finance_charts
from budgets.reports.key_usage import key_usage

register = template.Library()


@register.inclusion_tag("budgets/reports/_key_usage.html")
def key_usage_panel(key: Key, quarter: Quarter) -> dict[str, Any]:
    return {"usage": key_usage(key=key, quarter=quarter), "key": key}


def team_daily_by_model(team: Team, quarter: Quarter) -> charts.StackedChart:
    """The team's spend per day and model in the quarter (one query on the (day, team) index)."""
    rows = (
        DailyRollup.objects.filter(team=team, day__gte=quarter.start, day__lt=quarter.end)
        .values("day", "model")
        .annotate(total=sum_money("cost_usd"))
        .order_by()
    )
    series: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        days = series.setdefault(row["model"], {})
        days[row["day"]] = days.get(row["day"], ZERO) + row["total"]
    return charts.stacked(
        title=f"Daily spend of {team} in {quarter}, by model",
        series=series,
        columns=charts.days_of(quarter.start, quarter.end),
    )


@register.inclusion_tag("budgets/reports/_team_usage.html")
def team_usage_panel(team: Team, quarter: Quarter) -> dict[str, Any]:
    return {"chart": team_daily_by_model(team, quarter), "team": team, "quarter": quarter}


@register.inclusion_tag("budgets/reports/_finance_charts.html")
def finance_usage_panel(quarter: Quarter) -> dict[str, Any]:
    return {"charts": finance_charts(quarter=quarter), "quarter": quarter}
