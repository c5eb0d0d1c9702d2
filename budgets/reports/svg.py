"""Small server-side SVG bar charts for the boards (no JavaScript, no CDN). Every chart sits beside a table
holding the same numbers; each bar carries its value in a <title> (shown on hover). The geometry is worked out
here and drawn by templates/budgets/_hbars.html (so every text is escaped by the template engine)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.template.loader import render_to_string

WIDTH = 520
LABEL_W = 150
VALUE_W = 80
ROW_H = 22
BAR_H = 14
MAX_BARS = 10


@dataclass
class Bar:
    label: str
    value: Decimal
    previous: Decimal | None = None  # drawn as a thin grey bar under the main one (quarter-over-quarter)


@dataclass
class DrawnBar:
    label: str
    short: str
    value: str
    previous: str
    y: int
    width: float
    height: int
    previous_width: float | None

    @property
    def text_x(self) -> float:
        return round(LABEL_W + self.width + 4, 1)

    @property
    def text_y(self) -> int:
        return self.y + 12

    @property
    def previous_y(self) -> int:
        return self.y + BAR_H - 2


def money(value: Decimal) -> str:
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _width(value: Decimal, scale: Decimal, plot: int) -> float:
    return round(max(1.0, float(value / scale) * plot), 1) if value > 0 else 0.0


def hbars(bars: list[Bar], *, title: str, previous_label: str = "") -> str:
    """Horizontal bars scaled to the largest value shown; at most MAX_BARS bars; "" when there is nothing."""
    bars = bars[:MAX_BARS]
    if not bars:
        return ""
    scale = max([b.value for b in bars] + [b.previous or Decimal("0") for b in bars]) or Decimal("1")
    plot = WIDTH - LABEL_W - VALUE_W
    drawn = []
    for i, bar in enumerate(bars):
        compared = bar.previous is not None
        drawn.append(
            DrawnBar(
                label=bar.label,
                short=_short(bar.label),
                value=money(bar.value),
                previous=money(bar.previous) if compared else "",
                y=3 + i * ROW_H,
                width=_width(bar.value, scale, plot),
                height=BAR_H - 4 if compared else BAR_H,
                previous_width=_width(bar.previous, scale, plot) if compared else None,
            )
        )
    context = {
        "bars": drawn,
        "title": title,
        "previous_label": previous_label,
        "width": WIDTH,
        "height": ROW_H * len(bars) + 6,
        "label_w": LABEL_W,
        "label_x": LABEL_W - 6,
    }
    return render_to_string("budgets/_hbars.html", context)
