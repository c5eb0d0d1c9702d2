"""The coding-tool part of a usage sync: pull the window day by day and store each day whole.

`allocator.usage.sync.usage_sync` runs it for accounts whose adapter declares `coding_usage` (same lock, run,
heartbeat fence, failure handling and enforcement afterwards as every other account). A day is stored once all of
its pages came, replacing what was stored for it, so a failure part-way keeps the complete days before it and a
re-sync never adds. Seats (where the tool lists them) are stored for the current month when the window reaches
into it: the seat list is today's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from allocator.coding.rollups import coding_rollups_recompute
from allocator.coding.store import coding_day_store, coding_seats_store
from allocator.models import ProviderAccount, SyncRun
from allocator.providers.coding import CodingToolProvider

DAY = timedelta(days=1)


def window_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days [start, end) touches (a window ending mid-day includes that day, as far as it has come)."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    if datetime.combine(last, time.min, tzinfo=UTC) >= end:
        last -= DAY
    return [first + DAY * n for n in range((last - first).days + 1)]


def coding_window_store(
    *,
    run: SyncRun,
    account: ProviderAccount,
    adapter: CodingToolProvider,
    heartbeat: Callable[..., None],
    changed: set[date],
    progress: Callable[[SyncRun], None] | None = None,
) -> None:
    """Pull and store every day of the run's window (and this month's seats), adding each stored day to `changed`
    as it commits, then roll them up at once (after a failure the sync rolls up the days stored before it)."""
    stored = changed
    month = timezone.now().astimezone(UTC).date().replace(day=1)
    if adapter.capabilities.seats and run.window_end > datetime.combine(month, time.min, tzinfo=UTC):
        # The seat list is today's: it is this month's seats (a back-fill of older months leaves theirs alone).
        seats = adapter.list_seats()
        with transaction.atomic():
            coding_seats_store(account=account, month=month, seats=seats, price_usd=adapter.seat_price_usd)
            heartbeat(run, rows=len(seats), unknown=set())
        stored.add(month)
    for day in window_days(run.window_start, run.window_end):
        rows = [row for page in adapter.pull_coding_day(day=day) for row in page]
        with transaction.atomic():  # the heartbeat is the fence: a run declared dead does not write the day
            count = coding_day_store(account=account, day=day, rows=rows, roll_up=False)
            heartbeat(run, rows=count, unknown=set())
        stored.add(day)
        if progress is not None:
            progress(run)
    coding_rollups_recompute(account=account, days=stored)
