"""Budget forecasts: each scope's daily spend (from the rollups, one grouped query for the scopes asked) projected
by budgets.projection into two lines, an 80 % band and a run-out date (see FORECAST_METHOD)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q

from allocator.models import DailyRollup
from allocator.money import ZERO, sum_money
from allocator.quarters import Quarter
from budgets import projection
from budgets.spend import KEY_SCOPE, SCOPE_COLUMNS

# Forecasts of budget scopes: a key's allowance alerts and suspends without a run-out forecast, and grouping by
# key as well would multiply the rows the enforcement read returns.
BUDGET_COLUMNS = {scope: column for scope, column in SCOPE_COLUMNS.items() if scope != KEY_SCOPE}

FORECAST_METHOD = (
    "Two lines from the last six weeks of daily spend. \u201cAt this week's rate\u201d repeats the current level "
    "(the middle of the last three weeks, each day weighed by its weekday, so one runaway day does not count) with "
    "the usual weekday pattern. \u201cIf the trend continues\u201d also follows the growth or decline of the last "
    "four to six weeks, but only when two robust measures agree on it (the change against the same weekday a week "
    "before, and the slope of the weekly totals); the smaller of the two is used. The band is the range 80\u00a0% "
    "of outcomes should fall in; it widens the further ahead it looks. The rest of today is included. With less "
    "than a week of spend there is no forecast yet. The run-out date is the first day the trend line reaches the "
    "budget; forecast alerts use it."
)
HUNDRED = Decimal("100")
DailySeries = dict[str, dict[date, Decimal]]


def _split(scope_keys: Iterable[str]) -> dict[str, set[int]]:
    """{"team": {3, 4}, "user": {7}} from scope keys; unknown scopes are ignored."""
    ids: dict[str, set[int]] = defaultdict(set)
    for key in scope_keys:
        scope, _, pk = key.partition(":")
        if scope in SCOPE_COLUMNS and pk.isdigit():
            ids[scope].add(int(pk))
    return ids


def _read(*, today: date, columns: dict[str, str], where: Q) -> DailySeries:
    start = today - timedelta(days=projection.LOOKBACK_DAYS)
    rows = (
        DailyRollup.objects.filter(where, day__gte=start, day__lt=today)
        .values("day", *columns.values())
        .annotate(total=sum_money("cost_usd"))
        .order_by()
    )
    series: DailySeries = defaultdict(lambda: defaultdict(lambda: ZERO))
    for row in rows:
        for scope, column in columns.items():
            if row[column] is not None:
                series[f"{scope}:{row[column]}"][row["day"]] += row["total"]
    return series


def daily_series(*, today: date, scope_keys: Iterable[str]) -> DailySeries:
    """Spend per complete day of the last six weeks before `today` of each scope asked (one grouped query).
    Every asked key is in the answer, with no days if it spent nothing."""
    ids = _split(scope_keys)
    asked = {f"{scope}:{pk}" for scope, pks in ids.items() for pk in pks}
    if not asked:
        return {}
    where = Q()
    for scope, pks in ids.items():
        where |= Q(**{f"{SCOPE_COLUMNS[scope]}__in": sorted(pks)})
    series = _read(today=today, columns={scope: SCOPE_COLUMNS[scope] for scope in ids}, where=where)
    return {key: dict(series.get(key, {})) for key in asked}


def budget_scope_series(*, today: date) -> DailySeries:
    """The same for every budget scope of the organisation at once (enforcement; one query)."""
    return {key: dict(days) for key, days in _read(today=today, columns=BUDGET_COLUMNS, where=Q()).items()}


def percent_of(spend: Decimal, amount: Decimal) -> Decimal:
    """spend as a percentage of amount; a zero amount is 100 % spent as soon as anything is spent.

    Plain Decimal division never overflows for amounts the columns can hold (precision 28 rounds instead)."""
    if not amount:
        return HUNDRED if spend > 0 else ZERO
    return spend * HUNDRED / amount


@dataclass
class Forecast(projection.SpendProjection):
    """A scope's projection to the quarter's end, with what the pages and alerts read from it."""

    live: bool = True  # the quarter is running (a closed or future quarter projects nothing)

    @property
    def percent(self) -> Decimal | None:
        return None if self.amount is None else percent_of(self.spend, self.amount)

    @property
    def projected_percent(self) -> Decimal | None:
        if not self.amount:
            return None
        return percent_of(self.projected, self.amount)

    @property
    def remaining(self) -> Decimal | None:
        return None if self.amount is None else self.amount - self.spend

    @property
    def over_by(self) -> Decimal:
        return ZERO if self.amount is None else max(ZERO, self.spend - self.amount)

    @property
    def projecting(self) -> bool:
        return self.live and self.enough_history

    @property
    def two_lines(self) -> bool:
        """The lines differ enough to show both (a trend is used and moves the total by 1 % or the date)."""
        if not self.projecting or self.projected_flat is None or not self.weekly_change:
            return False
        return abs(self.projected - self.projected_flat) * 100 >= max(self.projected, Decimal("0.01")) or (
            self.run_out != self.run_out_flat
        )

    @property
    def method(self) -> str:
        return super().method if self.live else "The quarter is not running: nothing is projected."

    @property
    def status(self) -> str:
        """ok / warn / over, for badges."""
        if self.amount is None:
            return "none"
        if self.spend >= self.amount:
            return "over"
        if self.run_out is not None:
            return "warn"
        return "ok"


def forecast(
    *,
    spend: Decimal,
    amount: Decimal | None,
    series: Mapping[date, Decimal] | None,
    today: date,
    quarter: Quarter,
    elapsed: float = 0.0,
) -> Forecast:
    """Project quarter-end spend and the run-out date from a scope's daily spend (see FORECAST_METHOD).

    `spend` is the quarter's spend so far (today's part included), `series` the complete days before today
    (None: the quarter is not running), `elapsed` the part of today that is over (0..1)."""
    if series is None or not quarter.contains(today):
        reached = amount is not None and spend >= amount
        return Forecast(spend=spend, amount=amount, projected=spend, run_out=today if reached else None, live=False)
    result = projection.project_spend(
        series=series, spend=spend, today=today, end=quarter.end, elapsed=elapsed, amount=amount
    )
    return Forecast(**{f.name: getattr(result, f.name) for f in fields(result)})
