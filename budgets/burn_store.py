"""The burn rates enforcement computes after every sync, kept for the pages (budgets.models.BurnSnapshot).

Enforcement reads the weekday burn rate of every budget scope from the last four weeks of rollups anyway (for its
forecast alerts); it stores them in one row, so a page showing hundreds of scopes (the finance overview) reads
one small row instead of four weeks of rollups. The rates are those of the four weeks before the run's day: a
page uses them only on that same day, and reads the rollups itself before the first run of a day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.utils import timezone

from budgets.forecast import NO_BURN, BurnRate
from budgets.models import BurnSnapshot

SNAPSHOT_PK = 1


def burn_rates_store(*, rates: dict[str, BurnRate], today: date) -> None:
    """Keep the rates of this run (one upsert)."""
    stored = {key: [str(value) for value in rate.per_weekday] for key, rate in rates.items()}
    BurnSnapshot.objects.bulk_create(
        [BurnSnapshot(pk=SNAPSHOT_PK, computed_for=today, computed_at=timezone.now(), rates=stored)],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["computed_for", "computed_at", "rates"],
    )


def burn_snapshot(*, today: date) -> dict[str, list[str]] | None:
    """The rates the last run stored, if it ran on `today` (one query); None before the first run of the day."""
    stored = BurnSnapshot.objects.filter(pk=SNAPSHOT_PK, computed_for=today).values_list("rates", flat=True)
    return next(iter(stored), None)


def burn_rates_from(snapshot: dict[str, list[str]], *, keys: Iterable[str]) -> dict[str, BurnRate]:
    """The rates of these scopes in a snapshot (a scope the run saw no spend for has NO_BURN)."""
    return {key: BurnRate([Decimal(v) for v in snapshot[key]]) if key in snapshot else NO_BURN for key in keys}
