"""The daily series enforcement reads after every sync, kept for the pages (budgets.models.SeriesSnapshot).

Enforcement reads the daily spend of every budget scope over the forecast's look-back anyway (for its forecast
alerts); it keeps them in one row, as micro-dollars per day, so a page showing hundreds of scopes (the finance
overview) reads one row instead of six weeks of rollups. The series are the complete days before the run's day:
a page uses them only on that day, and reads the rollups itself before the first run of a day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from budgets.models import SeriesSnapshot
from budgets.projection import LOOKBACK_DAYS

SNAPSHOT_PK = 1
MICRO = Decimal("1000000")


def series_store(
    *, series: Mapping[str, Mapping[date, Decimal]], today: date, outlooks: Mapping[str, list[str]] | None = None
) -> None:
    """Keep this run's series and each budget's forecast status (one upsert)."""
    start = today - timedelta(days=LOOKBACK_DAYS)
    days = [start + timedelta(days=i) for i in range(LOOKBACK_DAYS)]
    compact = {key: [int(spent.get(day, 0) * MICRO) for day in days] for key, spent in series.items()}
    SeriesSnapshot.objects.bulk_create(
        [
            SeriesSnapshot(
                pk=SNAPSHOT_PK,
                computed_for=today,
                computed_at=timezone.now(),
                series=compact,
                outlooks=dict(outlooks or {}),
            )
        ],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["computed_for", "computed_at", "series", "outlooks"],
    )


def outlooks_snapshot(*, today: date) -> dict[str, list[str]]:
    """Each budget's [amount, spend, forecast status] as the last run on `today` saw them (one query); empty
    before the first run of the day."""
    stored = SeriesSnapshot.objects.filter(pk=SNAPSHOT_PK, computed_for=today).values_list("outlooks", flat=True)
    return next(iter(stored), None) or {}


def series_snapshot(*, today: date) -> dict[str, list[int]] | None:
    """The series the last run kept, if it ran on `today` (one query); None before the first run of the day."""
    stored = SeriesSnapshot.objects.filter(pk=SNAPSHOT_PK, computed_for=today).values_list("series", flat=True)
    return next(iter(stored), None)


def series_from(snapshot: dict[str, list[int]], *, keys: Iterable[str], today: date) -> dict[str, dict[date, Decimal]]:
    """The daily series of these scopes in a snapshot (a scope the run saw no spend for has no days)."""
    start = today - timedelta(days=LOOKBACK_DAYS)
    series: dict[str, dict[date, Decimal]] = {}
    for key in keys:
        micros = snapshot.get(key) or []
        series[key] = {start + timedelta(days=i): Decimal(m) / MICRO for i, m in enumerate(micros) if m}
    return series
