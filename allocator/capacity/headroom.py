"""Headroom: each limiter against its recent demand (today or yesterday), which one binds first, and the projected
crossover. Per-minute limits are compared with the day's busiest minute (and its p99 minute), per-day limits
(requests per day, batch input tokens per day) with the sum of the day's minutes.

The crossover is `budgets.projection.series_crossing` on the limiter's daily peaks (the same projection as budget
forecasts: weekday pattern, robust level, a trend only where two estimates agree), looking CROSSOVER_HORIZON_DAYS
ahead. Two queries whatever the number of limiters: the limits, and the peaks of the lookback window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils import timezone

from allocator.capacity.limits import effective_limits
from allocator.capacity.models import DemandPeak, RateLimitRecord
from allocator.providers import capacity
from allocator.quarters import Quarter
from budgets.projection import LOOKBACK_DAYS, series_crossing

CROSSOVER_HORIZON_DAYS = 180  # budgets.models.MAX_CAPACITY_DAYS bounds the policy by it
CHART_DAYS = 90


@dataclass
class HeadroomRow:
    limit: RateLimitRecord
    # The busiest minute of today or yesterday, whichever is busier (early in a UTC day, today alone would read as
    # quiet), or for a per-day limit that day's total: None when no demand was seen on either, or the provider does
    # not report the dimension.
    peak: int | None = None
    p99: int | None = None  # of the same day (None for a per-day limit)
    peak_day: date | None = None
    crossover: date | None = None  # first day the projected daily peak reaches the limit (today if it already did)
    history: dict[date, int] = field(default_factory=dict)  # daily peaks (or totals) before today
    binds_first: bool = False  # the least headroom of its account × scope × model
    reported: bool = True  # the provider reports this dimension (Anthropic: no request counts)

    @property
    def share(self) -> float | None:
        return self.peak / self.limit.value if self.peak is not None else None

    @property
    def headroom(self) -> float | None:
        return 1 - self.share if self.share is not None else None

    @property
    def percent(self) -> int | None:
        return round(self.share * 100) if self.share is not None else None

    @property
    def days_to_crossover(self) -> int | None:
        return (self.crossover - timezone.now().date()).days if self.crossover else None

    def sort_key(self) -> tuple:
        """Least headroom first; then the earliest crossover; limiters without demand last."""
        return (
            self.share is None,
            -(self.share or 0),
            self.crossover or date.max,
            self.limit.account.name,
            self.limit.model,
        )


def _limits(account_ids=None) -> list[RateLimitRecord]:
    records = RateLimitRecord.objects.select_related("account").filter(account__enabled=True)
    if account_ids is not None:
        records = records.filter(account_id__in=account_ids)
    return effective_limits(records)


Days = dict[date, tuple[int, int | None]]  # day -> (demand, p99 minute): what a limiter is compared with


def _peaks(limits: list[RateLimitRecord], *, since: date) -> dict[tuple, Days]:
    """Per limiter identity, each day's demand: the peak and p99 minute, or for a per-day limit the day's total."""
    series: dict[tuple, Days] = defaultdict(dict)
    if not limits:
        return series
    rows = DemandPeak.objects.filter(day__gte=since, account_id__in={limit.account_id for limit in limits})
    for account_id, scope, model, dimension, day, peak, p99, total in rows.values_list(
        "account_id", "scope", "model", "dimension", "day", "peak", "p99", "total"
    ):
        per_day = dimension in capacity.DAY_DIMENSIONS
        series[(account_id, scope, model, dimension)][day] = (total, None) if per_day else (peak, p99)
    return series


def headroom_row(limit: RateLimitRecord, days: Days, *, today: date) -> HeadroomRow:
    row = HeadroomRow(limit=limit, history={d: peak for d, (peak, _) in days.items() if d < today})
    counts_requests = limit.dimension in (capacity.REQUESTS_PER_MINUTE, capacity.REQUESTS_PER_DAY)
    row.reported = limit.account.capabilities.request_counts or not counts_requests
    recent = [day for day in (today, today - timedelta(days=1)) if day in days]
    if recent:
        row.peak_day = max(recent, key=lambda day: days[day][0])
        row.peak, row.p99 = days[row.peak_day]
    if row.peak is not None and row.peak >= limit.value:
        row.crossover = today
    elif row.history:
        row.crossover = series_crossing(
            row.history,
            today=today,
            level=float(limit.value),
            end=today + timedelta(days=CROSSOVER_HORIZON_DAYS),
        )
    return row


def headroom_rows(
    *, today: date | None = None, account_ids=None, history_days: int = LOOKBACK_DAYS
) -> list[HeadroomRow]:
    """Every limiter with its recent demand (peak and p99 minute, or the day's total) and crossover, least headroom
    first."""
    today = today or timezone.now().date()
    limits = _limits(account_ids)
    series = _peaks(limits, since=today - timedelta(days=history_days))
    rows = [headroom_row(limit, series.get(limit.identity, {}), today=today) for limit in limits]
    _mark_binding(rows)
    return sorted(rows, key=HeadroomRow.sort_key)


def _mark_binding(rows: list[HeadroomRow]) -> None:
    """Per account × scope × model, the dimension with the least headroom binds first."""
    groups: dict[tuple, list[HeadroomRow]] = defaultdict(list)
    for row in rows:
        if row.share is not None:
            groups[(row.limit.account_id, row.limit.scope, row.limit.model)].append(row)
    for members in groups.values():
        max(members, key=lambda r: (r.share, -(r.crossover or date.max).toordinal())).binds_first = True


def headroom_detail(limit: RateLimitRecord, *, today: date | None = None) -> HeadroomRow:
    """One limiter with CHART_DAYS of daily peaks (its chart) and its projection."""
    today = today or timezone.now().date()
    days = _peaks([limit], since=today - timedelta(days=CHART_DAYS)).get(limit.identity, {})
    return headroom_row(limit, days, today=today)


def peak_share(quarter: Quarter) -> dict[str, dict[str, float]]:
    """Share of peak demand per provider kind and per account in a quarter (for the concentration view).

    An account's peak demand is the sum, over its models, of each model's busiest minute of tokens in the quarter
    (the whole account's demand, scope blank); shares are of the sum over all accounts, 0..1."""
    rows = DemandPeak.objects.filter(
        day__gte=quarter.start, day__lt=quarter.end, scope=capacity.ORGANIZATION, dimension=capacity.TOKENS_PER_MINUTE
    ).values_list("account__name", "account__kind", "model", "peak")
    busiest: dict[tuple[str, str, str], int] = {}
    for name, kind, model, peak in rows:
        busiest[(name, kind, model)] = max(peak, busiest.get((name, kind, model), 0))
    accounts: dict[str, int] = defaultdict(int)
    providers: dict[str, int] = defaultdict(int)
    for (name, kind, _), peak in busiest.items():
        accounts[name] += peak
        providers[kind] += peak
    total = sum(accounts.values())
    if not total:
        return {"providers": {}, "accounts": {}}
    return {
        "providers": {kind: value / total for kind, value in providers.items()},
        "accounts": {name: value / total for name, value in accounts.items()},
    }
