"""Server-side SVG of one limiter: daily peak minutes over the last 90 days against the limit line, and the
projection (budgets.projection, the trend line and its 80 % band) to the crossover or four weeks ahead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from allocator.capacity.headroom import CHART_DAYS, HeadroomRow
from budgets.projection import dense_history, fit, project

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 26
AHEAD_DAYS = 28


@dataclass
class CapacityChart:
    width: int = WIDTH
    height: int = HEIGHT
    peaks: str = ""  # SVG path of daily peaks
    projection: str = ""
    band: str = ""
    limit_y: float | None = None
    today_x: float | None = None
    crossover_x: float | None = None
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = True

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM


def count_label(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{value:,.0f}"


def capacity_chart(row: HeadroomRow, *, today: date) -> CapacityChart:
    chart = CapacityChart()
    days = dict(row.history)
    if row.peak is not None:
        days[today] = row.peak
    if not days:
        return chart
    chart.empty = False
    start = today - timedelta(days=CHART_DAYS)
    f = fit(dense_history(row.history, today=today), today=today)
    ahead = AHEAD_DAYS
    if row.crossover and row.crossover > today:
        ahead = max(ahead, min((row.crossover - today).days + 7, 120))
    lines = project(f, today=today, end=today + timedelta(days=ahead)) if f.enough else None
    limit = float(row.limit.value)
    values = [*days.values(), limit]
    if lines:
        values += [v for v in lines.trend if v <= 2 * limit]
    high = max(values) * 1.08 or 1.0
    span_days = (today - start).days + (ahead if lines else 1)

    def x(day: date) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (day - start).days / max(1, span_days), 1)

    def y(v: float) -> float:
        return round(TOP + (HEIGHT - TOP - BOTTOM) * (high - min(v, high)) / high, 1)

    points = sorted((d, v) for d, v in days.items() if d >= start)
    chart.peaks = " ".join(f"{'M' if n == 0 else 'L'}{x(d)},{y(v)}" for n, (d, v) in enumerate(points))
    if lines:
        trend = [(lines.day(i), v) for i, v in enumerate(lines.trend)]
        chart.projection = " ".join(f"{'M' if n == 0 else 'L'}{x(d)},{y(v)}" for n, (d, v) in enumerate(trend))
        lower = [(lines.day(i), v) for i, v in enumerate(lines.low)]
        upper = [(lines.day(i), v) for i, v in enumerate(lines.high)]
        chart.band = (
            " ".join(f"{'M' if n == 0 else 'L'}{x(d)},{y(v)}" for n, (d, v) in enumerate(lower))
            + " "
            + " ".join(f"L{x(d)},{y(v)}" for d, v in reversed(upper))
            + " Z"
        )
    chart.limit_y = y(limit)
    chart.today_x = x(today)
    if row.crossover and row.crossover > today:
        chart.crossover_x = x(row.crossover)
    month = date(start.year, start.month, 1)
    end = start + timedelta(days=span_days)
    while month < end:
        if month >= start:
            chart.x_labels.append((x(month), month.strftime("%b %-d")))
        month = (month + timedelta(days=32)).replace(day=1)
    for value in (high, limit, high / 2, 0.0):
        if all(abs(y(value) - other) >= 14 for other, _ in chart.y_labels):
            chart.y_labels.append((y(value), count_label(value)))
    return chart
