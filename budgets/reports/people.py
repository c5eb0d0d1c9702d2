"""A person's page: their keys, the budgets that limit them (with the forecast), their spend trend and efficiency.

Everything is read from the daily rollups of this one person (the (day, owner_user) index) and of the few budget
scopes they fall under (their teams, projects they hold keys of): a fixed number of queries, whatever the number of
keys, days or models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, Q, QuerySet, Sum, When
from django.db.models.functions import TruncMonth
from django.utils import timezone

from accounts.models import Membership, User
from allocator.models import DailyRollup, Key
from allocator.money import MONEY, ZERO, sum_money
from allocator.quarters import Quarter
from budgets.forecast import FORECAST_METHOD, daily_series, forecast
from budgets.models import Budget, Scope
from budgets.reports import charts
from budgets.reports.coding import TOOLS_NOTE, person_member_limits, person_tools
from budgets.reports.usage_figures import Efficiency, efficiency_of
from budgets.spend import SCOPE_COLUMNS, with_quarter_spend
from budgets.tables import Row

# Quarters before the shown one in the "previous quarters" table.
HISTORY_QUARTERS = 4


@dataclass
class PersonPage:
    person: User
    quarter: Quarter
    teams: list[Membership]
    keys: list[Key]
    budget_rows: list[Row]
    spend: Decimal
    chart: charts.StackedChart
    efficiency: Efficiency
    history: list[tuple[Quarter, Decimal]]


def _person_keys(person: User, quarter: Quarter) -> list[Key]:
    keys = Key.objects.filter(owner_user=person).select_related("account", "team", "enforcement")
    return list(with_quarter_spend(keys, quarter=quarter).order_by("-spend_usd", "name"))


def _person_budgets(person: User, quarter: Quarter, team_ids: list[int], keys: list[Key]) -> list[Budget]:
    """The budgets that limit this person's keys: their own, their teams' and the projects they hold keys of."""
    key_teams = {k.team_id for k in keys}
    return list(
        Budget.objects.filter(quarter=quarter.name)
        .filter(
            Q(scope=Scope.USER, user=person)
            | Q(scope=Scope.TEAM, team_id__in=set(team_ids) | key_teams)
            | Q(scope=Scope.PROJECT, project__keys__owner_user=person)
        )
        .select_related("team", "project", "user", "cost_center")
        .distinct()
    )


def _scope_spend(budgets: list[Budget], quarter: Quarter) -> dict[str, Decimal]:
    """Quarter spend of each budget's scope, in one query (one conditional sum per scope)."""
    if not budgets:
        return {}
    filters = {b.scope_key: Q(**{SCOPE_COLUMNS[b.scope]: b.scope_id}) for b in budgets}
    either = Q()
    for q in filters.values():
        either |= q
    sums = {f"s{i}": Sum(Case(When(q, then="cost_usd"), output_field=MONEY)) for i, q in enumerate(filters.values())}
    totals = DailyRollup.objects.filter(either, day__gte=quarter.start, day__lt=quarter.end).aggregate(**sums)
    return {key: totals[f"s{i}"] or ZERO for i, key in enumerate(filters)}


def _budget_rows(budgets: list[Budget], quarter: Quarter) -> list[Row]:
    """Each budget with its spend and forecast (budgets.forecast, from the scope's recent daily spend)."""
    now = timezone.now()
    today = now.date()
    live = quarter.contains(today)
    elapsed = (now.hour * 3600 + now.minute * 60 + now.second) / 86400
    spend = _scope_spend(budgets, quarter)
    series = daily_series(today=today, scope_keys=[b.scope_key for b in budgets]) if live and budgets else {}
    rows = []
    for budget in budgets:
        fc = forecast(
            spend=spend.get(budget.scope_key, ZERO),
            amount=budget.amount_usd,
            series=series.get(budget.scope_key, {}) if live else None,
            today=today if live else quarter.last_day,
            quarter=quarter,
            elapsed=elapsed,
        )
        rows.append(Row(budget.scope, budget.scope_object, budget, fc))
    order = {Scope.USER: 0, Scope.PROJECT: 1, Scope.TEAM: 2, Scope.COST_CENTER: 3}
    return sorted(rows, key=lambda r: (order.get(r.scope, 9), str(r.obj)))


def _history(person: User, quarter: Quarter) -> list[tuple[Quarter, Decimal]]:
    """The person's spend in each of the quarters before `quarter` (one query, by month)."""
    quarters = [quarter]
    for _ in range(HISTORY_QUARTERS):
        quarters.append(quarters[-1].previous())
    quarters = quarters[1:]
    rows = (
        DailyRollup.objects.filter(owner_user=person, day__gte=quarters[-1].start, day__lt=quarter.start)
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(total=sum_money("cost_usd"))
        .order_by()
    )
    totals = {q: ZERO for q in quarters}
    for row in rows:
        month = row["month"].date() if hasattr(row["month"], "date") else row["month"]
        for q in quarters:
            if q.contains(month):
                totals[q] += row["total"]
    return [(q, totals[q]) for q in quarters]


def _usage_rows(person: User, quarter: Quarter) -> QuerySet:
    return (
        DailyRollup.objects.filter(owner_user=person, day__gte=quarter.start, day__lt=quarter.end)
        .values("day", "provider", "model")
        .annotate(
            cost=sum_money("cost_usd"),
            req=Sum("requests"),
            reported=Count("requests"),
            request_cost=Sum(Case(When(requests__isnull=False, then="cost_usd"), output_field=MONEY)),
            t_input_tokens=Sum("input_tokens"),
            t_cached_input_tokens=Sum("cached_input_tokens"),
            t_output_tokens=Sum("output_tokens"),
        )
        .order_by()
    )


def person_page(*, person: User, quarter: Quarter) -> dict[str, Any]:
    """Everything the person page shows (a fixed number of queries)."""
    teams = list(Membership.objects.filter(user=person).select_related("team__cost_center"))
    keys = _person_keys(person, quarter)
    budgets = _person_budgets(person, quarter, [m.team_id for m in teams], keys)
    rows = list(_usage_rows(person, quarter))
    daily: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        series = daily.setdefault(row["model"], {})
        series[row["day"]] = series.get(row["day"], ZERO) + row["cost"]
    chart = charts.stacked(
        title=f"Daily spend of {person} in {quarter}, by model",
        series=daily,
        columns=charts.days_of(quarter.start, quarter.end),
    )
    page = PersonPage(
        person=person,
        quarter=quarter,
        teams=teams,
        keys=keys,
        budget_rows=_budget_rows(budgets, quarter),
        spend=chart.total,
        chart=chart,
        efficiency=efficiency_of(rows),
        history=_history(person, quarter),
    )
    return {
        "page": page,
        "person": person,
        "quarter": quarter,
        "is_current": quarter == Quarter.current(),
        "forecast_method": FORECAST_METHOD,
        "tools": person_tools(person_id=person.pk, quarter=quarter),
        "tools_note": TOOLS_NOTE,
        "member_limits": person_member_limits(person_id=person.pk),
    }
