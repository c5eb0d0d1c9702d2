"""`manage.py forecast_accuracy`: the forecast measured on synthetic daily series with known answers.

Quarter 1 October - 31 December, four weeks of history before it, about $100 a day (weekdays busier than
weekends), ±10 % noise with a fixed seed, and a budget set so the true crossing is day 75. For each series it
prints, at days 15, 30, 45 and 60 (at noon, today's spend half in), the error of the projected quarter-end total
and of the run-out date, and how many days before the crossing the first forecast alert fires. Every number goes
through budgets.forecast.forecast and budgets.thresholds.forecast_alert_due, the pages' and enforcement's own code.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.test.utils import override_settings

from allocator.quarters import Quarter
from budgets.forecast import Forecast, forecast
from budgets.thresholds import forecast_alert_due

QUARTER_START, QUARTER_END = date(2026, 10, 1), date(2027, 1, 1)
HISTORY_DAYS = 28
CROSSING_DAY = 75
DAYS = (15, 30, 45, 60)
ALERT_DAYS = 14  # the policy's default forecast_alert_days

# Multiplier of the base level on quarter day index d (0 = 1 October; negative = history before the quarter).
SHAPES: dict[str, Callable[[int], float]] = {
    "steady (weekday/weekend pattern)": lambda d: 1.0,
    "growth 5 % a week": lambda d: 1.05 ** (d / 7),
    "doubling every 14 days": lambda d: 2 ** (d / 14),
    "step ×3 from day 31": lambda d: 3.0 if d >= 30 else 1.0,
    "one $3,000 runaway day on day 40": lambda d: 1.0,
    "decline 5 % a week": lambda d: 0.95 ** (d / 7),
}
SPIKE = ("one $3,000 runaway day on day 40", 39, 3000.0)


def series_of(name: str, *, seed: int = 1) -> dict[date, Decimal]:
    """Spend per day from four weeks before the quarter to its end."""
    rnd, shape, out = random.Random(seed), SHAPES[name], {}
    for d in range(-HISTORY_DAYS, (QUARTER_END - QUARTER_START).days):
        day = QUARTER_START + timedelta(days=d)
        value = 100 * (1.2 if day.weekday() < 5 else 0.5) * shape(d) * rnd.uniform(0.9, 1.1)
        if name == SPIKE[0] and d == SPIKE[1]:
            value += SPIKE[2]
        out[day] = Decimal(f"{value:.6f}")
    return out


@dataclass
class Case:
    """One series and its known answers."""

    name: str
    daily: dict[date, Decimal]

    @property
    def quarter_days(self) -> list[Decimal]:
        return [self.daily[QUARTER_START + timedelta(days=d)] for d in range((QUARTER_END - QUARTER_START).days)]

    @property
    def budget(self) -> Decimal:
        return sum(self.quarter_days[:CROSSING_DAY], Decimal(0))

    @property
    def total(self) -> Decimal:
        return sum(self.quarter_days, Decimal(0))

    @property
    def crossing(self) -> date:
        return QUARTER_START + timedelta(days=CROSSING_DAY - 1)

    def forecast_on(self, day_number: int) -> tuple[date, Forecast]:
        """The forecast at noon of quarter day `day_number` (1 = 1 October), as a page computes it."""
        today = QUARTER_START + timedelta(days=day_number - 1)
        spent = sum(self.quarter_days[: day_number - 1], Decimal(0)) + self.daily[today] / 2
        history = {day: value for day, value in self.daily.items() if day < today}
        with override_settings(FISCAL_YEAR_START_MONTH=1):  # October - December whatever the deployment says
            quarter = Quarter.containing(today)
            fc = forecast(spend=spent, amount=self.budget, series=history, today=today, quarter=quarter, elapsed=0.5)
        return today, fc

    def errors_on(self, day_number: int) -> tuple[float, int | None]:
        """(quarter-end error in %, run-out error in days or None if it projects no run-out)."""
        _, fc = self.forecast_on(day_number)
        total_error = float((fc.projected - self.total) / self.total * 100)
        return total_error, (fc.run_out - self.crossing).days if fc.run_out else None

    def first_alert(self, days: int = ALERT_DAYS) -> int | None:
        """Days between the first forecast alert and the true crossing (None: no alert before it)."""
        for day_number in range(1, CROSSING_DAY + 1):
            today, fc = self.forecast_on(day_number)
            if forecast_alert_due(fc, today=today, days=days):
                return (self.crossing - today).days
        return None


def cases(seed: int = 1) -> list[Case]:
    return [Case(name, series_of(name, seed=seed)) for name in SHAPES]


def table(seed: int = 1) -> str:
    """The markdown table of the README."""
    lines = [
        "| series | day 15 | day 30 | day 45 | day 60 | forecast alert before crossing |",
        "|---|---|---|---|---|---|",
    ]
    for case in cases(seed):
        cells = []
        for day_number in DAYS:
            total_error, days_off = case.errors_on(day_number)
            date_part = "none" if days_off is None else f"{days_off:+d} d".replace("+0 d", "0 d").replace("-", "\u2212")
            cells.append(f"{_percent(total_error)} / {date_part}")
        lead = case.first_alert()
        cells.append("none" if lead is None else f"{lead} days")
        lines.append(f"| {case.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _percent(value: float) -> str:
    rounded = round(value)
    return "0 %" if rounded == 0 else f"{rounded:+d} %".replace("-", "\u2212")


class Command(BaseCommand):
    help = "Print the forecast's accuracy on synthetic series with known answers (a markdown table)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, seed: int, **options) -> None:
        self.stdout.write(table(seed))
