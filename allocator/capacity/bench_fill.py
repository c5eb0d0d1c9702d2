"""Capacity rows for `bench pages`: a limit per model and per-minute dimension of the bench account, and 90 days of
daily peaks for each (growing on some models), so the capacity pages are measured at a year's scale of limiters."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from allocator.capacity.headroom import CHART_DAYS
from allocator.capacity.models import DemandPeak, RateLimitRecord
from allocator.models import ProviderAccount
from allocator.providers import capacity

DIMENSIONS = (capacity.TOKENS_PER_MINUTE, capacity.REQUESTS_PER_MINUTE)


def capacity_fill(*, account: ProviderAccount, models: list[str]) -> RateLimitRecord:
    """Replace the account's limits and peaks; return the first limit (its detail page is measured)."""
    RateLimitRecord.objects.filter(account=account).delete()
    DemandPeak.objects.filter(account=account).delete()
    today = timezone.now().date()
    limits = RateLimitRecord.objects.bulk_create(
        RateLimitRecord(account=account, model=model, dimension=dim, value=1_000_000, source="provider")
        for model in models
        for dim in DIMENSIONS
    )
    DemandPeak.objects.bulk_create(
        (
            DemandPeak(
                account=account,
                model=model,
                dimension=dim,
                day=today - timedelta(days=n),
                peak=int(400_000 * (1.02**-n if i % 3 == 0 else 1)),
                p99=300_000,
                minutes=1440,
            )
            for i, model in enumerate(models)
            for dim in DIMENSIONS
            for n in range(CHART_DAYS + 1)
        ),
        batch_size=2000,
    )
    return RateLimitRecord.objects.filter(account=account).order_by("pk").first() or limits[0]
