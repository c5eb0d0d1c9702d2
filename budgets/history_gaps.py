"""Lost usage history, alerted once per gap through the outbox.

allocator.usage.gaps records a UsageGap when an account's last complete pull ended before the oldest day its
provider still serves (Cursor keeps about a week). Each gap becomes exactly one alert: the row is claimed by
setting `alerted_at` under a conditional UPDATE, and the alert's unique identity (kind, account, quarter of the
gap's start, the gap's start) holds even when two checks race, like the budget alert per crossing. Admins are
told in-app (email when no Slack is configured) and finance's Slack channel hears it too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from allocator.models import UsageGap
from allocator.providers import provider_class
from allocator.quarters import Quarter
from allocator.usage.gaps import usage_gaps_check
from budgets.models import Alert
from budgets.thresholds import insert_new_alerts


def _gap_alert(gap: UsageGap) -> Alert:
    account = gap.account
    provider = provider_class(account.kind)
    last = (gap.lost_until - timedelta(days=1)).date()
    days = f"{gap.lost_from:%Y-%m-%d}" if last <= gap.lost_from.date() else f"{gap.lost_from:%Y-%m-%d} to {last}"
    message = (
        f"{account.name}: usage of {days} can no longer be pulled. {provider.display_name} keeps "
        f"{provider.usage_history_days} days of history and the last complete sync ended "
        f"{gap.lost_from:%Y-%m-%d %H:%M} UTC, so those days are missing from budgets, boards and chargeback. "
        "Check that the workers and beat run (the account is synced hourly)."
    )
    return Alert(
        kind=Alert.Kind.HISTORY_GAP,
        scope="account",
        scope_key=f"account:{account.pk}",
        quarter=Quarter.containing(gap.lost_from).name,
        threshold=0,
        dedupe=f"{gap.lost_from:%Y-%m-%dT%H:%M:%S}",
        message=message,
        url=account.get_absolute_url(),
    )


def history_gap_alerts(*, now: datetime | None = None) -> list[Alert]:
    """Record open gaps of every account, then queue one alert for each gap not alerted yet."""
    now = now or timezone.now()
    usage_gaps_check(now=now)
    alerts = []
    with transaction.atomic():
        for gap in UsageGap.objects.filter(alerted_at__isnull=True).select_related("account"):
            if UsageGap.objects.filter(pk=gap.pk, alerted_at__isnull=True).update(alerted_at=now):
                alerts.append(_gap_alert(gap))
        insert_new_alerts(alerts)
        if alerts:
            from budgets.tasks import deliver_alerts

            transaction.on_commit(deliver_alerts.delay)
    return alerts
