"""Server-side SVG stacked bar charts (no JavaScript, no CDN): daily spend stacked by model, team or provider, and
build vs run per month. Every chart carries its numbers as a table (`StackedChart.table`) for the page to show
beside it, and a <title> per bar segment for the value on hover."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from allocator.money import ZERO

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 26
# Series beyond the largest few are drawn as one "Other" band, so the legend stays readable.
MAX_SERIES = 6
OTHER = "Other"
# Colour-blind friendly (Okabe-Ito order, then greys).
PALETTE = ["#3b5bdb", "#f79009", "#12b76a", "#d444f1", "#0ba5ec", "#c4320a", "#98a2b3"]


@dataclass
class Segment:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass
class LegendItem:
    name: str
    color: str
    total: Decimal


@dataclass
class StackedChart:
    """A stacked bar chart and its numbers: one column per day (or month), one band per series."""

    title: str
    width: int = WIDTH
    height: int = HEIGHT
    segments: list[Segment] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    # The table: a header of series names, then (column label, values per series, column total) rows.
    series_names: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[Decimal], Decimal]] = field(default_factory=list)
    total: Decimal = ZERO

    @property
    def empty(self) -> bool:
        return not self.total

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def column_totals(self) -> list[Decimal]:
        return [item.total for item in self.legend]


def money_label(value: float) -> str:
    return f"${value / 1000:,.1f}k" if value >= 1000 else f"${value:,.0f}" if value >= 10 else f"${value:,.2f}"


def _top_series(series: dict[str, dict[date, Decimal]]) -> list[str]:
    """Series names by total, largest first (ties by name, so the order is stable)."""
    totals = {name: sum(values.values(), ZERO) for name, values in series.items()}
    return sorted((n for n in totals if totals[n]), key=lambda n: (-totals[n], n))


def _fold(series: dict[str, dict[date, Decimal]], limit: int) -> dict[str, dict[date, Decimal]]:
    """At most `limit` series: the largest `limit - 1` and the rest summed as "Other"."""
    names = _top_series(series)
    if len(names) <= limit:
        return {name: series[name] for name in names}
    kept = {name: series[name] for name in names[: limit - 1]}
    other: dict[date, Decimal] = {}
    for name in names[limit - 1 :]:
        for day, value in series[name].items():
            other[day] = other.get(day, ZERO) + value
    kept[OTHER] = other
    return kept


def stacked(
    *,
    title: str,
    series: dict[str, dict[date, Decimal]],
    columns: list[tuple[date, str]],
    x_label_every: int | None = None,
    limit: int = MAX_SERIES,
) -> StackedChart:
    """A stacked bar chart of `series` (name → {column date: value}) over `columns` (date, label), in order.

    `x_label_every`: label every n-th column (None: label each column whose date is the 1st of a month)."""
    chart = StackedChart(title=title)
    folded = _fold(series, limit)
    names = list(folded)
    chart.series_names = names
    colors = {name: PALETTE[i % len(PALETTE)] if name != OTHER else PALETTE[-1] for i, name in enumerate(names)}
    stacks = [[folded[name].get(day, ZERO) for name in names] for day, _ in columns]
    chart.rows = [(label, values, sum(values, ZERO)) for (_, label), values in zip(columns, stacks, strict=True)]
    chart.total = sum((row[2] for row in chart.rows), ZERO)
    chart.legend = [LegendItem(name, colors[name], sum((s[i] for s in stacks), ZERO)) for i, name in enumerate(names)]
    if chart.empty:
        return chart
    high = float(max(row[2] for row in chart.rows))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(columns))
    bar_w = round(max(1.0, step * 0.8), 1)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - value / high), 1)

    for index, ((day, label), values) in enumerate(zip(columns, stacks, strict=True)):
        x, running = round(LEFT + step * index + (step - bar_w) / 2, 1), 0.0
        day_total = sum(values, ZERO)
        for name, value in zip(names, values, strict=True):
            if not value:
                continue
            top = y(running + float(value))
            chart.segments.append(
                Segment(
                    x=x,
                    y=top,
                    width=bar_w,
                    height=round(y(running) - top, 1) or 0.5,
                    color=colors[name],
                    title=f"{label} · {name}: ${value:,.2f} (of ${day_total:,.2f})",
                )
            )
            running += float(value)
        if (x_label_every and index % x_label_every == 0) or (not x_label_every and day.day == 1):
            chart.x_labels.append((round(LEFT + step * index, 1), label if x_label_every else day.strftime("%b %-d")))
    for value in (high, high / 2, 0.0):
        chart.y_labels.append((y(value), money_label(value)))
    return chart


def days_of(start: date, end: date) -> list[tuple[date, str]]:
    """Columns for a daily chart: every day in [start, end), labelled like "Tue 3 Nov"."""
    columns, day = [], start
    while day < end:
        columns.append((day, day.strftime("%a %-d %b")))
        day += timedelta(days=1)
    return columns


def months_of(start: date, end: date) -> list[tuple[date, str]]:
    """Columns for a monthly chart: the first day of every month in [start, end), labelled like "Nov 2026"."""
    columns, month = [], start.replace(day=1)
    while month < end:
        columns.append((month, month.strftime("%b %Y")))
        month = (month + timedelta(days=32)).replace(day=1)
    return columns


def by_month(series: dict[str, dict[date, Decimal]]) -> dict[str, dict[date, Decimal]]:
    """Daily series summed per calendar month (keyed by the month's first day)."""
    monthly: dict[str, dict[date, Decimal]] = {}
    for name, values in series.items():
        months = monthly.setdefault(name, {})
        for day, value in values.items():
            month = day.replace(day=1)
            months[month] = months.get(month, ZERO) + value
    return monthly
