"""Retention: raw usage buckets older than Policy.usage_retention_months are deleted; daily rollups stay."""

from __future__ import annotations

import calendar
import logging
from datetime import UTC, date, datetime, time

from django.utils import timezone

from allocator.models import Policy, ProviderAccount, UsageBucket
from allocator.usage.rollups import DAY
from allocator.usage.sync import day_floor

logger = logging.getLogger(__name__)


def months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier (clamped to the month's last day)."""
    year, month0 = divmod(day.month - 1 - months, 12)
    year += day.year
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def usage_drop_old(*, now: datetime | None = None) -> int:
    """Delete buckets older than Policy.usage_retention_months (0 keeps everything); rollups keep the history.

    Deletes a week per statement and account, oldest first, so no transaction holds the table for long.
    """
    months = Policy.current().usage_retention_months
    if not months:
        return 0
    cutoff_day = months_before((now or timezone.now()).astimezone(UTC).date(), months)
    cutoff = datetime.combine(cutoff_day, time.min, tzinfo=UTC)
    total = 0
    for account_id in ProviderAccount.objects.values_list("pk", flat=True):
        old = UsageBucket.objects.filter(account_id=account_id, bucket_start__lt=cutoff)
        while (oldest := old.order_by("bucket_start").values_list("bucket_start", flat=True).first()) is not None:
            stop = min(day_floor(oldest) + 7 * DAY, cutoff)
            deleted, _ = old.filter(bucket_start__lt=stop).delete()
            total += deleted
    logger.info("dropped %s usage buckets older than %s", total, cutoff_day)
    return total
