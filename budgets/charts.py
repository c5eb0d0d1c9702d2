"""Server-side SVG charts (no JavaScript, no CDN): the quarter burn-down."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from allocator.quarters import Quarter
from budgets.forecast import Forecast

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 26


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    mode: str = "remaining"  # "remaining" (burn-down against a budget) or "spent" (no budget: burn-up)
    actual: str = ""  # SVG path
    area: str = ""
    ideal: str = ""
    projected: str = ""  # at this week's rate
    trend: str = ""  # if the trend continues (only where it differs)
    band: str = ""  # the 80 % range, a closed path
    zero_y: float | None = None
    today_x: float | None = None
    run_out_x: float | None = None
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = False

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM


def _money_label(value: float) -> str:
    sign = "−" if value < 0 else ""
    value = abs(value)
    return f"{sign}${value / 1000:,.1f}k" if value >= 1000 else f"{sign}${value:,.0f}"


def _actual_points(
    *, quarter: Quarter, amount: Decimal | None, daily: dict[date, Decimal], today: date
) -> list[tuple[int, float]]:
    """(day index, remaining budget or cumulative spend) from the quarter's first day to today."""
    points: list[tuple[int, float]] = []
    running = Decimal("0")
    day, index = quarter.start, 0
    while day <= min(today, quarter.last_day):
        running += daily.get(day, Decimal("0"))
        points.append((index, float(amount - running) if amount is not None else float(running)))
        day += timedelta(days=1)
        index += 1
    return points


Points = list[tuple[int, float]]


def _projected(*, amount: Decimal | None, actual: Points, fc: Forecast | None) -> dict[str, Points]:
    """From today's point to the quarter's end: both lines and the band's edges (empty when not projecting).

    The forecast's lines start with the rest of today, so day k's point is the running total at its end."""
    if fc is None or not fc.projecting or fc.lines is None or not actual or len(fc.lines.flat) < 2:
        return {}
    start_index, start_value = actual[-1]
    sign = -1.0 if amount is not None else 1.0
    out: dict[str, Points] = {}
    for name in ("flat", "trend", "low", "high"):
        running, points = 0.0, [actual[-1]]
        for k, value in enumerate(getattr(fc.lines, name)):
            running += value
            if k:
                points.append((start_index + k, start_value + sign * running))
        out[name] = points
    return out


def _clip(points: Points, low: float, high: float) -> Points:
    return [(i, min(max(v, low), high)) for i, v in points]


def burndown(
    *,
    quarter: Quarter,
    amount: Decimal | None,
    daily: dict[date, Decimal],
    fc: Forecast | None,
    today: date,
) -> Chart:
    """Remaining budget per day of the quarter (actual to today, then both forecast lines and their 80 % band),
    against the straight line from the full budget to zero. Without a budget, cumulative spend instead."""
    chart = Chart(mode="remaining" if amount is not None else "spent")
    days = quarter.days
    actual = _actual_points(quarter=quarter, amount=amount, daily=daily, today=today)
    lines = _projected(amount=amount, actual=actual, fc=fc)
    values = [v for _, v in actual + lines.get("flat", []) + lines.get("trend", [])]
    values += [float(amount), 0.0] if amount is not None else [0.0]
    high, low = max(values + [1.0]), min(values + [0.0])
    # The band may reach far past both lines (fast growth, far ahead): it is cut at half the chart's span.
    margin = (high - low) / 2
    band_edges = [_clip(lines.get(edge, []), low - margin, high + margin) for edge in ("low", "high")]
    band_values = [v for edge in band_edges for _, v in edge]
    high, low = max([high, *band_values]), min([low, *band_values])
    if not actual:
        chart.empty = True
        return chart
    span = (high - low) or 1.0

    def x(i: float) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * i / max(1, days - 1), 1)

    def y(v: float) -> float:
        return round(TOP + (HEIGHT - TOP - BOTTOM) * (high - v) / span, 1)

    def path(points: list[tuple[int, float]]) -> str:
        return " ".join(f"{'M' if n == 0 else 'L'}{x(i)},{y(v)}" for n, (i, v) in enumerate(points))

    chart.actual = path(actual)
    chart.area = f"{chart.actual} L{x(actual[-1][0])},{y(max(low, 0.0))} L{x(0)},{y(max(low, 0.0))} Z"
    if lines:
        chart.projected = path(lines["flat"])
        chart.trend = path(lines["trend"]) if fc is not None and fc.two_lines else ""
        lower, upper = band_edges
        chart.band = f"{path(lower)} " + " ".join(f"L{x(i)},{y(v)}" for i, v in reversed(upper)) + " Z"
    if amount is not None:
        chart.ideal = f"M{x(0)},{y(float(amount))} L{x(days - 1)},{y(0.0)}"
    chart.zero_y = y(0.0)
    if quarter.contains(today):
        chart.today_x = x((today - quarter.start).days)
    if fc is not None and fc.run_out is not None and fc.run_out > today and quarter.contains(fc.run_out):
        chart.run_out_x = x((fc.run_out - quarter.start).days)
    month = quarter.start
    while month < quarter.end:
        chart.x_labels.append((x((month - quarter.start).days), month.strftime("%b %-d")))
        month = (month.replace(day=1) + timedelta(days=32)).replace(day=1)
    for value in sorted({high, 0.0, low}, reverse=True):
        if not chart.y_labels or y(value) - chart.y_labels[-1][0] >= 14:  # no overlapping labels
            chart.y_labels.append((y(value), _money_label(value)))
    return chart
