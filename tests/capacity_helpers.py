"""Rows for capacity tests: a limit and a daily peak series (as the minute pull would have stored them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from allocator.capacity.models import DemandPeak, RateLimitRecord
from allocator.models import ProviderAccount
from allocator.providers import capacity


def limit_of(account: ProviderAccount, *, value: int, model: str = "gpt-4.1", dimension=capacity.TOKENS_PER_MINUTE):
    return RateLimitRecord.objects.create(
        account=account, model=model, dimension=dimension, value=value, source=RateLimitRecord.Source.PROVIDER
    )


def peaks_of(limit: RateLimitRecord, series: Mapping[date, float]) -> None:
    """Replace the limiter's daily peaks with `series` (p99 at 90 % of the peak)."""
    DemandPeak.objects.filter(account=limit.account, model=limit.model, dimension=limit.dimension).delete()
    DemandPeak.objects.bulk_create(
        DemandPeak(
            account=limit.account,
            scope=limit.scope,
            model=limit.model,
            dimension=limit.dimension,
            day=day,
            peak=int(value),
            p99=int(value * 0.9),
            minutes=1440,
        )
        for day, value in series.items()
    )
