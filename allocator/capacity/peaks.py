"""Demand: pull 1-minute usage for a recent window and keep, per UTC day, the peak and p99 minute and the day's sum.

Each pull covers the start of yesterday (UTC) to now, so yesterday is complete once a pull ran after midnight and
today grows through the day; the days it covers are replaced, never added to. Minute rows are summed per
(scope, model) and also for the whole account (scope blank, what organization-wide limiters count), counted as the
provider's limiters count (`Provider.limit_counts`), then thrown away: only DemandPeak rows stay.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from allocator.capacity.limits import _read_state, throttles_record
from allocator.capacity.models import DemandPeak
from allocator.models import ProviderAccount
from allocator.providers import capacity
from allocator.providers.base import ERROR_TEXT_LIMIT, ProviderError, redact

MINUTES_A_DAY = 1440
PERCENTILE = 0.99

# (scope, model, day, dimension) -> {minute of the day: count}
Minutes = dict[tuple[str, str, date, str], dict[int, int]]


def percentile(values: list[int], share: float, *, population: int) -> int:
    """The nearest-rank percentile of `values` padded with zero minutes up to `population` (quiet minutes count)."""
    if not values:
        return 0
    ordered = sorted(values)
    padded = max(population, len(ordered))
    rank = math.ceil(share * padded)  # 1-based rank in the padded list, zeros first
    index = rank - 1 - (padded - len(ordered))
    return ordered[index] if index >= 0 else 0


def _covered_minutes(day: date, start: datetime, end: datetime) -> int:
    day_start = datetime.combine(day, time.min, tzinfo=UTC)
    lo, hi = max(day_start, start), min(day_start + timedelta(days=1), end)
    return max(0, int((hi - lo).total_seconds() // 60))


def minute_totals(adapter, *, start: datetime, end: datetime) -> Minutes:
    """Sum every minute row of [start, end) per (scope, model, day, dimension, minute), as the limiters count."""
    totals: Minutes = defaultdict(lambda: defaultdict(int))
    whole = capacity.ORGANIZATION
    for page in adapter.minute_usage(start=start, end=end):
        for row in page:
            moment = row.bucket_start
            if moment.utcoffset():
                moment = moment.astimezone(UTC)
            minute = moment.hour * 60 + moment.minute
            day = moment.date()
            scope = str(row.dimensions.get("scope") or whole)
            scopes = (whole,) if scope == whole else (scope, whole)
            for dimension, value in adapter.limit_counts(row).by_dimension():
                if value is None:  # the provider does not report it (Anthropic requests): no row, never 0
                    continue
                for each in scopes:
                    totals[(each, row.model, day, dimension)][minute] += value
    return totals


def peaks_of(totals: Minutes, *, account: ProviderAccount, start: datetime, end: datetime) -> list[DemandPeak]:
    rows = []
    for (scope, model, day, dimension), minutes in totals.items():
        values = list(minutes.values())
        covered = _covered_minutes(day, start, end)
        rows.append(
            DemandPeak(
                account=account,
                scope=scope[:80],
                model=model[:120],
                day=day,
                dimension=dimension,
                peak=max(values),
                p99=percentile(values, PERCENTILE, population=covered),
                minutes=covered,
                total=sum(values),
            )
        )
    return rows


def demand_window(now: datetime) -> tuple[datetime, datetime]:
    """From the start of yesterday (UTC) to now."""
    today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    return today - timedelta(days=1), now


def demand_sync(*, account: ProviderAccount, now: datetime | None = None, since: datetime | None = None) -> int:
    """Pull the account's minute usage for the recent window (or from `since`, whole days) and replace the daily
    peaks of the days it covers; return how many peak rows were written. A failure is kept on CapacityRead and
    raised again; nothing stored changes."""
    now = now or timezone.now()
    adapter = account.adapter()
    if not adapter.capabilities.minute_usage:
        return 0
    start, end = demand_window(now)
    if since is not None:
        start = min(start, datetime.combine(since.astimezone(UTC).date(), time.min, tzinfo=UTC))
    try:
        totals = minute_totals(adapter, start=start, end=end)
    except ProviderError as error:
        _read_state(account, demand_error=redact(str(error), account.credential)[:ERROR_TEXT_LIMIT])
        throttles_record(account=account, count=adapter.http.throttled, now=now)
        raise
    rows = peaks_of(totals, account=account, start=start, end=end)
    with transaction.atomic():
        DemandPeak.objects.filter(account=account, day__gte=start.date(), day__lte=end.date()).delete()
        DemandPeak.objects.bulk_create(rows, batch_size=1000)
        _read_state(account, demand_read_at=now, demand_error="")
    throttles_record(account=account, count=adapter.http.throttled, now=now)
    return len(rows)
