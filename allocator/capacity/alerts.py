"""Capacity alerts through the budget alert outbox (budgets.alerts), once per crossing.

Two kinds, each one Alert row per limiter, quarter and limit value (a raised limit is a new crossing), held by the
outbox's unique constraint (kind, scope_key, quarter, threshold, dedupe) with ON CONFLICT DO NOTHING:
- peak above the policy share of a limit (CAPACITY_ALERT_PERCENT, 80 by default): kind "threshold";
- the projected crossover less than CAPACITY_CROSSOVER_DAYS (14) away: kind "forecast".
Finance and the admins hear about them (in-app, finance's Slack, email without Slack).
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from allocator.capacity.headroom import HeadroomRow, headroom_rows
from allocator.quarters import Quarter
from budgets.models import Alert

CAPACITY_SCOPE = "capacity"  # Alert.scope of capacity alerts (budgets.alerts picks their audience by it)


def _what(row: HeadroomRow) -> str:
    limit = row.limit
    scope = f" ({limit.scope})" if limit.scope else ""
    return f"{limit.model} {limit.get_dimension_display()} on {limit.account.name}{scope}"


def _alert(row: HeadroomRow, *, kind: str, threshold: int, dedupe: str, message: str, quarter: Quarter) -> Alert:
    return Alert(
        kind=kind,
        scope=CAPACITY_SCOPE,
        scope_key=f"capacity:{row.limit.pk}",
        quarter=quarter.name,
        threshold=threshold,
        dedupe=dedupe,
        message=message,
        url=row.limit.get_absolute_url(),
    )


def capacity_alerts_for(rows: list[HeadroomRow], *, today: date, percent: int, days: int) -> list[Alert]:
    """The alert rows today's headroom calls for (not saved)."""
    quarter = Quarter.current()
    alerts = []
    for row in rows:
        value = row.limit.value
        if row.peak is not None and row.peak * 100 >= value * percent:
            on = date_format(row.peak_day, "j F")
            share = f"{row.percent}\u00a0%"
            text = f"{_what(row)}: the busiest minute on {on} was {row.peak:,} of the {value:,} limit ({share})."
            if row.crossover and row.crossover > today:
                text += f" At this growth it hits the limit on {date_format(row.crossover, 'j F')}."
            alerts.append(
                _alert(
                    row, kind=Alert.Kind.THRESHOLD, threshold=percent, dedupe=str(value), message=text, quarter=quarter
                )
            )
        if row.crossover is not None and (row.crossover - today).days < days:
            when = "today" if row.crossover <= today else f"on {date_format(row.crossover, 'j F')}"
            text = f"At this growth, {_what(row)} hits its limit of {value:,} {when}"
            text += f" (peak {row.peak:,})." if row.peak is not None else "."
            alerts.append(
                _alert(
                    row,
                    kind=Alert.Kind.FORECAST,
                    threshold=days,
                    dedupe=f"crossover:{value}",
                    message=text,
                    quarter=quarter,
                )
            )
    return alerts


def capacity_alerts_raise(*, today: date | None = None) -> int:
    """Queue the alerts of today's headroom that were not raised before; return how many were new."""
    today = today or timezone.now().date()
    percent, days = settings.CAPACITY_ALERT_PERCENT, settings.CAPACITY_CROSSOVER_DAYS
    alerts = capacity_alerts_for(headroom_rows(today=today), today=today, percent=percent, days=days)
    if not alerts:
        return 0
    with transaction.atomic():
        before = Alert.objects.filter(scope=CAPACITY_SCOPE).count()
        Alert.objects.bulk_create(alerts, ignore_conflicts=True)
        new = Alert.objects.filter(scope=CAPACITY_SCOPE).count() - before
    if new:
        from budgets.tasks import deliver_alerts

        transaction.on_commit(deliver_alerts.delay)
    return new
