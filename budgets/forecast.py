"""Forecasts: burn rate per weekday, projected quarter-end spend and the run-out date (see FORECAST_METHOD)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Min
from django.db.models.functions import ExtractIsoWeekDay

from allocator.models import DailyRollup
from allocator.money import ZERO, sum_money
from allocator.quarters import Quarter
from budgets.models import scope_key
from budgets.spend import KEY_SCOPE, SCOPE_COLUMNS

# Burn rates of budget scopes only: a key's allowance alerts and suspends without a run-out forecast, and
# grouping by key as well would multiply the rows this reads.
_RATE_COLUMNS = {scope: column for scope, column in SCOPE_COLUMNS.items() if scope != KEY_SCOPE}

# Burn rate looks back this many days (four of each weekday).
LOOKBACK_DAYS = 28
FORECAST_METHOD = (
    "Projected quarter-end spend = spend so far + for every remaining day of the quarter, the average spend on "
    "that weekday over the last four weeks (or since the first spend, if later). Weekdays not seen yet use the "
    "overall daily average. The run-out date is the first day the running total reaches the budget."
)
HUNDRED = Decimal("100")


@dataclass
class BurnRate:
    """Average spend per ISO weekday (index 0 = Monday)."""

    per_weekday: list[Decimal]

    @property
    def daily(self) -> Decimal:
        return sum(self.per_weekday, ZERO) / 7

    def on(self, day: date) -> Decimal:
        return self.per_weekday[day.isoweekday() - 1]


NO_BURN = BurnRate([ZERO] * 7)


def burn_rates(*, today: date) -> dict[str, BurnRate]:
    """Weekday burn rate of every budget scope from the last four weeks before `today` (one query)."""
    start = today - timedelta(days=LOOKBACK_DAYS)
    rows = (
        DailyRollup.objects.filter(day__gte=start, day__lt=today)
        .values(*_RATE_COLUMNS.values(), weekday=ExtractIsoWeekDay("day"))
        .annotate(total=sum_money("cost_usd"), first=Min("day"))
        .order_by()
    )
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * 7)
    first_day: dict[str, date] = {}
    for row in rows:
        for scope, column in _RATE_COLUMNS.items():
            if row[column] is None:
                continue
            key = scope_key(scope, row[column])
            totals[key][row["weekday"] - 1] += row["total"]
            if key not in first_day or row["first"] < first_day[key]:
                first_day[key] = row["first"]
    return {key: _rate(weekday_totals, max(start, first_day[key]), today) for key, weekday_totals in totals.items()}


def burn_rates_of(daily: dict[str, dict[date, Decimal]], *, today: date) -> dict[str, BurnRate]:
    """The same weekday burn rates as `burn_rates`, from a daily series per scope key (the last four weeks)."""
    start = today - timedelta(days=LOOKBACK_DAYS)
    rates: dict[str, BurnRate] = {}
    for key, days in daily.items():
        seen = [d for d in days if start <= d < today]
        if not seen:
            continue
        totals = [ZERO] * 7
        for d in seen:
            totals[d.isoweekday() - 1] += days[d]
        rates[key] = _rate(totals, max(start, min(seen)), today)
    return rates


def _rate(weekday_totals: list[Decimal], start: date, end: date) -> BurnRate:
    seen = _weekday_counts(start, end)
    days = sum(seen)
    overall = sum(weekday_totals, ZERO) / days if days else ZERO
    return BurnRate([weekday_totals[i] / seen[i] if seen[i] else overall for i in range(7)])


def _weekday_counts(start: date, end: date) -> list[int]:
    """How many of each ISO weekday fall in [start, end)."""
    days = max(0, (end - start).days)
    weeks, rest = divmod(days, 7)
    counts = [weeks] * 7
    for offset in range(rest):
        counts[(start + timedelta(days=offset)).isoweekday() - 1] += 1
    return counts


def percent_of(spend: Decimal, amount: Decimal) -> Decimal:
    """spend as a percentage of amount; a zero amount is 100 % spent as soon as anything is spent.

    Plain Decimal division never overflows for amounts the columns can hold (precision 28 rounds instead)."""
    if not amount:
        return HUNDRED if spend > 0 else ZERO
    return spend * HUNDRED / amount


@dataclass
class Forecast:
    spend: Decimal
    amount: Decimal | None
    projected: Decimal
    run_out: date | None  # first day the running total reaches the budget (today if already spent)
    daily_rate: Decimal

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
    def status(self) -> str:
        """ok / warn / over, for badges."""
        if self.amount is None:
            return "none"
        if self.spend >= self.amount:
            return "over"
        if self.run_out is not None:
            return "warn"
        return "ok"


def forecast(*, spend: Decimal, amount: Decimal | None, rate: BurnRate, today: date, quarter: Quarter) -> Forecast:
    """Project quarter-end spend and the run-out date (see FORECAST_METHOD). The rest of today is not counted."""
    first, end = today + timedelta(days=1), quarter.end
    counts = _weekday_counts(first, end) if first < end else [0] * 7
    projected = spend + sum((rate.per_weekday[i] * counts[i] for i in range(7)), ZERO)
    run_out = None
    if amount is not None:
        if spend >= amount:
            run_out = today
        elif projected >= amount:
            run_out = _run_out_day(spend=spend, amount=amount, rate=rate, first=first, end=end)
    return Forecast(spend=spend, amount=amount, projected=projected, run_out=run_out, daily_rate=rate.daily)


def _run_out_day(*, spend: Decimal, amount: Decimal, rate: BurnRate, first: date, end: date) -> date | None:
    """The first day in [first, end) on which the running total reaches `amount`."""
    running, day = spend, first
    while day < end:
        running += rate.on(day)
        if running >= amount:
            return day
        day += timedelta(days=1)
    return None
