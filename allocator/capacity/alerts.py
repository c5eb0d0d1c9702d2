"""Capacity alerts through the budget alert outbox (budgets.alerts), once per crossing.

Two kinds of their own, each one Alert row per limiter, quarter and limit value (a raised limit is a new crossing),
held by the outbox's unique constraint (kind, scope_key, quarter, threshold, dedupe) with ON CONFLICT DO NOTHING:
- "capacity_peak": a day's busiest minute (a per-day limit: the day's total) at or above the policy share of a limit
  (BudgetPolicy.capacity_percent, 80 by default), threshold = that share;
- "capacity_crossover": the projected crossover fewer than BudgetPolicy.capacity_days (14) away, threshold = those
  days.
Each message names the model, the limit's dimension, the account (and project or workspace) and the numbers: the
peak against the limit, or the projected date. Finance and the admins hear about them (in-app, finance's Slack,
email without Slack).
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from allocator.capacity.headroom import HeadroomRow, headroom_rows
from allocator.quarters import Quarter
from budgets.models import Alert, BudgetPolicy

CAPACITY_SCOPE = "capacity"  # Alert.scope of capacity alerts (budgets.alerts picks their audience by it)


def _what(row: HeadroomRow) -> str:
    limit = row.limit
    scope = f" ({limit.scope})" if limit.scope else ""
    return f"{limit.model} {limit.get_dimension_display()} on {limit.account.name}{scope}"


def _day(day: date) -> str:
    return date_format(day, "j F")


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


def peak_text(row: HeadroomRow, *, today: date) -> str:
    """The peak against the limit ("gpt-4.1 tokens per minute on Prod-OpenAI peaked at 1,700,000 on 30 November:
    85 % of its 2,000,000 limit.") and, where a crossover is projected, when it is."""
    value = row.limit.value
    verb = "reached" if row.limit.per_day else "peaked at"  # a per-day limit counts the day's total
    text = f"{_what(row)} {verb} {row.peak:,} on {_day(row.peak_day)}: {row.percent}\u00a0% of its {value:,} limit."
    if row.crossover and row.crossover > today:
        text += f" At this growth it reaches the limit on {_day(row.crossover)}."
    return text


def crossover_text(row: HeadroomRow, *, today: date) -> str:
    """The projected date ("gpt-4.1 tokens per minute on Prod-OpenAI reaches its limit of 2,000,000 on 12 May at
    this growth"), with the peak it grows from."""
    value = row.limit.value
    if row.crossover <= today:
        text = f"{_what(row)} is at its limit of {value:,}"
    else:
        text = f"{_what(row)} reaches its limit of {value:,} on {_day(row.crossover)} at this growth"
    if row.peak is not None:
        what = "day total" if row.limit.per_day else "peak"
        text += f" ({what} {row.peak:,} on {_day(row.peak_day)}, {row.percent}\u00a0%)"
    return text + "."


def capacity_alerts_for(rows: list[HeadroomRow], *, today: date, percent: int, days: int) -> list[Alert]:
    """The alert rows today's headroom calls for (not saved)."""
    quarter = Quarter.current()
    alerts = []
    for row in rows:
        value = row.limit.value
        if row.peak is not None and row.peak * 100 >= value * percent:
            alerts.append(
                _alert(
                    row,
                    kind=Alert.Kind.CAPACITY_PEAK,
                    threshold=percent,
                    dedupe=str(value),
                    message=peak_text(row, today=today),
                    quarter=quarter,
                )
            )
        if row.crossover is not None and (row.crossover - today).days < days:
            alerts.append(
                _alert(
                    row,
                    kind=Alert.Kind.CAPACITY_CROSSOVER,
                    threshold=days,
                    dedupe=f"crossover:{value}",
                    message=crossover_text(row, today=today),
                    quarter=quarter,
                )
            )
    return alerts


def capacity_alerts_raise(*, today: date | None = None) -> int:
    """Queue the alerts of today's headroom that were not raised before; return how many were new."""
    today = today or timezone.now().date()
    policy = BudgetPolicy.current()
    percent, days = policy.capacity_percent, policy.capacity_days
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
