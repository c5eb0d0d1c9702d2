"""Projecting a daily series: a robust level, a weekday pattern, a cautious trend and an 80 % band.

Pure functions (no database): budget forecasts feed them a scope's daily spend, capacity planning a day's peak
demand. The method, in plain words:

- **Weekday pattern**: per weekday, the median over the last complete weeks (weeks end yesterday) of that day's
  share of its week.
- **Weekly level**: seven times the mean day of each week without its highest and lowest day, each day divided by
  its weekday's factor, so one runaway day does not move it. The level is the median of the last three weeks, so
  half a step cannot dominate.
- **Trend**: fitted on the log of the last 4-6 weekly levels by two robust estimates, the median change of a day
  against the same weekday a week before, and a Theil-Sen slope. Used only when both agree (same sign, the smaller
  at least half the larger); the more cautious (smaller) one is taken, clamped between halving and tripling a
  week. With a trend, the level is the trend line's value today.
- **Band**: 80 % (1.28 standard deviations either side, on the log scale) from the scatter of the weekly levels
  and the trend's own uncertainty, so it widens with the horizon; it always contains both lines.
- The rest of today is projected at today's weekday rate. Less than a full week of history is "not enough".

`project()` turns a fit into day-by-day lines from today to an end date; `crossing_day()` answers "when does this
line reach X" for a cumulative total (a budget's run-out) or a daily value (demand against a capacity limit), and
`series_crossing()` does both steps for a plain daily series. `project_spend()` is the budget case: spend so far,
both quarter-end totals, both run-out dates, the band and the method in plain words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from statistics import median

from allocator.money import ZERO, clamp, to_cents

MIN_DAYS = 7  # one complete week before anything is projected
TREND_MIN_WEEKS, TREND_MAX_WEEKS = 4, 6
LEVEL_WEEKS = 3  # without a trend, the level is the median of the last three weekly totals
PATTERN_MIN_WEEKS = 3
LOOKBACK_DAYS = 7 * TREND_MAX_WEEKS  # the history a caller needs to pass
MIN_WEEKLY_CHANGE = 0.01  # smaller trends are noise: held flat
BUSY_DAY = 0.2  # weekdays whose factor is below this (a quiet weekend) do not set the weekly level
AGREEMENT = 0.5  # the two trend estimates agree when the smaller is at least half the larger (same sign)
SPIKE_CAP = 3.0  # in a sparse week, a day above 3x its week's median day counts as 3x
TREND_CLAMP = (math.log(0.5), math.log(3.0))  # per week, on the log scale
Z80 = 1.2816  # two-sided 80 %
MIN_SPREAD = 0.05  # log-scale floor of the week-to-week scatter
MIN_SLOPE_SPREAD = 0.02  # per week, when a trend is fitted; without enough weeks for one, UNKNOWN_SLOPE_SPREAD
UNKNOWN_SLOPE_SPREAD = 0.06


@dataclass(frozen=True)
class Fit:
    """What the history says about the series at the start of today."""

    days: int  # complete days of history used (from the first non-zero day, at most LOOKBACK_DAYS)
    level: float  # value per day at the start of today (on the trend line when there is one)
    pattern: tuple[float, ...]  # factor per ISO weekday, index 0 = Monday; mean 1
    slope: float  # per day, log scale, of the trend line (0 = no trend)
    trend_weeks: int  # weeks the trend was fitted on (0 = too few for a trend)
    spread: float  # log-scale scatter of weekly totals around the fit
    slope_spread: float  # log-scale uncertainty of the weekly slope

    @property
    def enough(self) -> bool:
        return self.days >= MIN_DAYS

    @property
    def weekly_change(self) -> float:
        """The trend as a fraction per week (0.05 = 5 % a week more)."""
        return math.exp(self.slope * 7) - 1

    def rate(self, day_offset: float, weekday: int, *, trend: bool) -> float:
        """Expected value of a day `day_offset` days after the start of today (midpoint), on a weekday."""
        growth = math.exp(self.slope * day_offset) if trend else 1.0
        return self.level * growth * self.pattern[weekday]


NO_FIT = Fit(
    days=0,
    level=0.0,
    pattern=(1.0,) * 7,
    slope=0.0,
    trend_weeks=0,
    spread=MIN_SPREAD,
    slope_spread=UNKNOWN_SLOPE_SPREAD,
)


def dense_history(series: Mapping[date, Decimal | float] | Iterable[tuple[date, Decimal | float]], *, today: date):
    """The complete days before `today` as a list, oldest first, from the first non-zero day (at most
    LOOKBACK_DAYS). Missing days are zero; negative corrections count as zero."""
    values = dict(series.items() if isinstance(series, Mapping) else series)
    days = [max(0.0, float(values.get(today - timedelta(days=n), 0))) for n in range(LOOKBACK_DAYS, 0, -1)]
    first = next((i for i, v in enumerate(days) if v > 0), len(days))
    return days[first:]


def _week(history: Sequence[float], j: int) -> tuple[int, Sequence[float]]:
    """(index of its first day, its days) of the j-th complete week back from yesterday (0 = the newest)."""
    n = len(history)
    return n - 7 * (j + 1), history[n - 7 * (j + 1) : n - 7 * j]


def _robust_total(days: Sequence[float]) -> float:
    """A week's total with each day capped at SPIKE_CAP times the week's median day."""
    middle = median(days)
    return sum(min(v, SPIKE_CAP * middle) for v in days) if middle > 0 else sum(days)


def _weekly_levels(
    history: Sequence[float], weeks: int, pattern: Sequence[float], slope: float, first_weekday: int
) -> list[float]:
    """Robust total of each of the last `weeks` weeks, oldest first: seven times the median of its days, each
    divided by its weekday's factor (and the trend within the week), highest and lowest left out: one runaway day
    does not move it; a sparse week (fewer than four days that usually carry spend) falls back to a capped sum."""
    totals = []
    for j in range(weeks - 1, -1, -1):
        start, days = _week(history, j)
        adjusted = [
            v / (pattern[(first_weekday + start + i) % 7] * math.exp(slope * (i - 3)))
            for i, v in enumerate(days)
            if pattern[(first_weekday + start + i) % 7] >= BUSY_DAY
        ]
        busy = len(adjusted) >= 4 and median(adjusted) > 0
        totals.append(7 * _trimmed_mean(adjusted) if busy else _robust_total(days))
    return totals


def _trimmed_mean(values: Sequence[float]) -> float:
    """The mean without the highest and the lowest value: as steady as a mean, as robust to one odd day as a
    median."""
    ordered = sorted(values)
    return sum(ordered[1:-1]) / (len(ordered) - 2)


def _pairwise_slopes(ys: Sequence[float]) -> list[float]:
    return [(ys[k] - ys[i]) / (k - i) for i in range(len(ys)) for k in range(i + 1, len(ys))]


def _week_over_week(history: Sequence[float], weeks: int) -> float:
    """Median log change of a day against the same weekday a week before, over the last `weeks` weeks."""
    n = len(history)
    pairs = [(history[i - 7], history[i]) for i in range(n - 7 * (weeks - 1), n)]
    return median([math.log(b / a) for a, b in pairs if a > 0 and b > 0] or [0.0])


def _weekly_slope(weekly: Sequence[float], week_over_week: float) -> tuple[float, float]:
    """(accepted log slope per week, its uncertainty) from weekly levels (oldest first) and the median
    week-over-week change."""
    if len(weekly) < TREND_MIN_WEEKS or min(weekly) <= 0:
        return 0.0, UNKNOWN_SLOPE_SPREAD
    ys = [math.log(w) for w in weekly]
    theil_sen = median(_pairwise_slopes(ys))
    disagreement = abs(week_over_week - theil_sen)
    cautious, bold = sorted((week_over_week, theil_sen), key=abs)
    if cautious * bold <= 0 or abs(cautious) < AGREEMENT * abs(bold) or abs(math.exp(cautious) - 1) < MIN_WEEKLY_CHANGE:
        return 0.0, max(MIN_SLOPE_SPREAD, disagreement)
    return min(max(cautious, TREND_CLAMP[0]), TREND_CLAMP[1]), max(MIN_SLOPE_SPREAD, disagreement)


def _mad(values: Sequence[float]) -> float:
    centre = median(values)
    return 1.4826 * median([abs(v - centre) for v in values])


def _pattern(history: Sequence[float], weeks: int, slope: float, first_weekday: int) -> tuple[float, ...]:
    """Median share of each weekday in its week (detrended by `slope` per day), normalised to mean 1."""
    if weeks < PATTERN_MIN_WEEKS:
        return (1.0,) * 7
    shares: list[list[float]] = [[] for _ in range(7)]
    for j in range(weeks):
        start, days = _week(history, j)
        detrended = [v * math.exp(-slope * (i - 3)) for i, v in enumerate(days)]
        total = sum(detrended)
        if total <= 0:
            continue
        for i, v in enumerate(detrended):
            shares[(first_weekday + start + i) % 7].append(7 * v / total)
    factors = [median(s) if s else 1.0 for s in shares]
    mean = sum(factors) / 7
    return tuple(f / mean for f in factors) if mean > 0 else (1.0,) * 7


def fit(history: Sequence[float], *, today: date) -> Fit:
    """Fit a dense history of complete days ending yesterday (oldest first; see dense_history)."""
    history = list(history)[-LOOKBACK_DAYS:]
    n = len(history)
    if n < MIN_DAYS:
        return replace(NO_FIT, days=n, level=median(history) if history else 0.0)
    weeks = min(n // 7, TREND_MAX_WEEKS)
    first_weekday = (today - timedelta(days=n)).weekday()
    slope = 0.0
    for _ in range(2):  # the weekday pattern and the trend each sharpen the other
        pattern = _pattern(history, weeks, slope, first_weekday)
        weekly = _weekly_levels(history, weeks, pattern, slope, first_weekday)
        week_slope, slope_spread = _weekly_slope(weekly, _week_over_week(history, weeks))
        slope = week_slope / 7
    # Week j (0 = oldest of `weeks`) is centred 7 * (weeks - j) - 3.5 days before the start of today.
    centres = [-(7 * (weeks - j) - 3.5) for j in range(weeks)]
    if slope:
        logs = [math.log(w / 7) - slope * t for w, t in zip(weekly, centres, strict=True)]
        level = math.exp(median(logs[-LEVEL_WEEKS:]))
        spread = _mad(logs) if weeks >= 3 else MIN_SPREAD
    else:
        level = median(weekly[-LEVEL_WEEKS:]) / 7
        positive = [math.log(w) for w in weekly if w > 0]
        spread = _mad(positive) if len(positive) >= 3 else MIN_SPREAD
    return Fit(
        days=n,
        level=level,
        pattern=pattern,
        slope=slope,
        trend_weeks=weeks if weeks >= TREND_MIN_WEEKS else 0,
        spread=max(MIN_SPREAD, spread),
        slope_spread=slope_spread,
    )


@dataclass(frozen=True)
class Lines:
    """Day-by-day projection from today (index 0) to the day before `end`: per-day values of both lines and the
    band's edges. Cumulative totals start from what is already counted today."""

    start: date
    flat: list[float]  # "at this week's rate"
    trend: list[float]  # "if the trend continues"
    low: list[float]
    high: list[float]

    def cumulative(self, line: list[float], *, base: float) -> list[float]:
        running, out = base, []
        for value in line:
            running += value
            out.append(running)
        return out

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)


def project(f: Fit, *, today: date, end: date, elapsed: float = 0.0) -> Lines:
    """Per-day values from today to `end` (exclusive). Today's value is only what is left of it (1 - elapsed)."""
    flat, trend, low, high = [], [], [], []
    rest = 1.0 - min(max(elapsed, 0.0), 1.0)
    for k in range((end - today).days):
        weekday = (today + timedelta(days=k)).weekday()
        horizon = k + 0.5
        share = rest if k == 0 else 1.0
        a = f.rate(horizon, weekday, trend=False) * share
        b = f.rate(horizon, weekday, trend=True) * share
        sigma = math.hypot(f.spread, f.slope_spread * horizon / 7)
        flat.append(a)
        trend.append(b)
        low.append(min(a, b) * math.exp(-Z80 * sigma))
        high.append(max(a, b) * math.exp(Z80 * sigma))
    return Lines(start=today, flat=flat, trend=trend, low=low, high=high)


def crossing_day(values: Iterable[float], *, start: date, level: float) -> date | None:
    """The first day (counting from `start`) on which a projected series reaches `level`, or None.

    Pass cumulative totals for a budget's run-out date, per-day values for demand against a capacity limit."""
    for index, value in enumerate(values):
        if value >= level:
            return start + timedelta(days=index)
    return None


def series_crossing(
    series: Mapping[date, Decimal | float], *, today: date, level: float, end: date, trend: bool = True
) -> date | None:
    """When a daily series (e.g. peak demand per day), projected from its history, first reaches `level` in
    [today, end). None with less than a week of history or if it never does."""
    f = fit(dense_history(series, today=today), today=today)
    if not f.enough:
        return None
    lines = project(f, today=today, end=end)
    return crossing_day(lines.trend if trend else lines.flat, start=today, level=level)


def _money(value: float) -> Decimal:
    return to_cents(clamp(Decimal(repr(value))))


@dataclass
class SpendProjection:
    """Spend projected to an end date: both lines' totals and run-out dates, the band, the method in words."""

    spend: Decimal
    amount: Decimal | None
    projected: Decimal  # total at the end if the trend continues (= spend when nothing is projected)
    run_out: date | None  # first day the trend line reaches the amount (today if already reached)
    daily_rate: Decimal = ZERO  # spend per day now
    projected_flat: Decimal | None = None  # total at the end at this week's rate
    run_out_flat: date | None = None
    low: Decimal | None = None  # the 80 % band at the end
    high: Decimal | None = None
    run_out_earliest: date | None = None  # the first day the band's top reaches the amount
    enough_history: bool = False
    history_days: int = 0
    weekly_change: float = 0.0  # the trend line's growth per week (0.05 = 5 %)
    lines: Lines | None = None  # per-day lines from today, for charts

    @property
    def trend_percent(self) -> int:
        return round(self.weekly_change * 100)

    @property
    def method(self) -> str:
        """This projection's basis in plain words."""
        if not self.enough_history:
            days = f"{self.history_days} day{'s' if self.history_days != 1 else ''}"
            return f"Only {days} of spend so far: a forecast needs a full week."
        weeks = min(self.history_days // 7, TREND_MAX_WEEKS)
        basis = f"Based on the last {weeks} week{'s' if weeks != 1 else ''}: about ${self.daily_rate:,.2f} a day now"
        if self.weekly_change:
            direction = "grew" if self.weekly_change > 0 else "fell"
            change = f"{abs(self.trend_percent)}\u00a0%"
            return f"{basis}; spend {direction} about {change} a week, and the trend line follows."
        if weeks < TREND_MIN_WEEKS:
            return f"{basis}; a trend needs four weeks, so both lines hold this week's rate."
        return f"{basis}; no clear trend, so both lines hold this week's rate."


def project_spend(
    *,
    series: Mapping[date, Decimal | float] | Iterable[tuple[date, Decimal | float]],
    spend: Decimal,
    today: date,
    end: date,
    elapsed: float = 0.0,
    amount: Decimal | None = None,
) -> SpendProjection:
    """Project spend from `spend` so far (today's part included) to `end` (exclusive) from the daily series of
    the days before today; `elapsed` is the part of today that is over (0..1)."""
    reached = amount is not None and spend >= amount
    f = fit(dense_history(series, today=today), today=today)
    if not f.enough or end <= today:
        return SpendProjection(spend, amount, spend, today if reached else None, history_days=f.days)
    lines = project(f, today=today, end=end, elapsed=elapsed)
    each = (lines.trend, lines.flat, lines.low, lines.high)
    trend, flat, low, high = (lines.cumulative(line, base=float(spend)) for line in each)

    def run_out(cumulative: list[float]) -> date | None:
        if amount is None:
            return None
        return today if reached else crossing_day(cumulative, start=today, level=float(amount))

    return SpendProjection(
        spend=spend,
        amount=amount,
        projected=_money(trend[-1]),
        run_out=run_out(trend),
        daily_rate=_money(f.level),
        projected_flat=_money(flat[-1]),
        run_out_flat=run_out(flat),
        low=_money(low[-1]),
        high=_money(high[-1]),
        run_out_earliest=run_out(high),
        enough_history=True,
        history_days=f.days,
        weekly_change=f.weekly_change if f.slope else 0.0,
        lines=lines,
    )
