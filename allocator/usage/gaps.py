"""Usage history gaps: days a provider no longer serves that no sync pulled.

Some providers keep only a short history (Cursor about a week, OpenRouter's activity 30 days; the adapter's
`usage_history_days`). When an account's last complete pull (`synced_until`) ended before the oldest day the
provider still serves, the days between are lost for good. `usage_gap_record` notes that as one UsageGap row per
gap (named by where the last pull ended, so a gap that stays open for days is still one gap) before a sync moves
`synced_until` on, and beat checks every account hourly (`usage_gaps_check`); budgets.history_gaps turns each new
gap into one alert through the outbox and the account page lists them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from allocator.models import ProviderAccount, UsageGap
from allocator.providers import PROVIDERS, provider_class

logger = logging.getLogger(__name__)

GAP_ALERT_TASK = "budgets.tasks.history_gap_alerts"


def oldest_served(*, days: int, now: datetime) -> datetime:
    """Start of the oldest UTC day a provider keeping `days` days of history still serves."""
    return (now - timedelta(days=days)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def usage_gap_record(*, account: ProviderAccount, now: datetime | None = None) -> UsageGap | None:
    """Record the gap this account has open now, if any (idempotent: the same gap is one row, widened)."""
    now = now or timezone.now()
    days = provider_class(account.kind).usage_history_days
    if not days or account.synced_until is None:
        return None  # keeps everything, or never synced: nothing was lost by Allocator
    oldest = oldest_served(days=days, now=now)
    if account.synced_until >= oldest:
        return None
    try:
        with transaction.atomic():
            gap, created = UsageGap.objects.get_or_create(
                account=account, lost_from=account.synced_until, defaults={"lost_until": oldest, "detected_at": now}
            )
    except IntegrityError:  # a concurrent check recorded it first
        gap, created = UsageGap.objects.get(account=account, lost_from=account.synced_until), False
    if not created and gap.lost_until < oldest:
        UsageGap.objects.filter(pk=gap.pk, lost_until__lt=oldest).update(lost_until=oldest)
        gap.lost_until = oldest
    if gap.alerted_at is None:
        transaction.on_commit(_send_gap_alerts)
    return gap


def usage_gaps_check(*, now: datetime | None = None) -> list[UsageGap]:
    """Beat: the open gap of every enabled account whose provider keeps a short history."""
    short = [kind for kind in PROVIDERS if provider_class(kind).usage_history_days]
    accounts = ProviderAccount.objects.filter(enabled=True, kind__in=short, synced_until__isnull=False)
    return [gap for account in accounts if (gap := usage_gap_record(account=account, now=now)) is not None]


def _send_gap_alerts() -> None:
    # By name, so allocator never imports budgets; a broker hiccup leaves the alert to the hourly check.
    try:
        current_app.send_task(GAP_ALERT_TASK)
    except Exception:  # noqa: BLE001
        logger.warning("could not enqueue %s", GAP_ALERT_TASK, exc_info=True)
