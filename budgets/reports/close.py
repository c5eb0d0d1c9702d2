"""Closing a quarter: freeze its chargeback so its pages and exports never change afterwards.

Finance closes a quarter once it has ended. The close row is inserted first (its unique quarter is the lock:
a second close, even one running at the same moment, waits for the first and is refused), then every line the
quarter shows now (its usage, and adjustments of earlier closed quarters it carries) is copied into FrozenLine
in the same transaction. Budgets of a closed quarter are read-only (budgets.allocation and budgets.bumps ask
`QuarterClose.refusal`).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from accounts.permissions import Access
from allocator.money import usd
from allocator.quarters import Quarter
from budgets.reports.chargeback import LINE_FIELDS, Totals, chargeback_lines, closed_quarters
from budgets.reports.models import FrozenLine, QuarterClose

BATCH = 2000


def close_problem(quarter: Quarter) -> str | None:
    """Why `quarter` cannot be closed now, or None."""
    today = timezone.now().date()
    if quarter.end > today:
        return f"{quarter} has not ended yet: it can be closed from {quarter.end.day} {quarter.end:%B %Y}."
    if QuarterClose.objects.filter(quarter=quarter.name).exists():
        return f"{quarter} is already closed."
    return None


@transaction.atomic
def quarter_close(*, quarter: Quarter, by: User) -> QuarterClose:
    """Freeze `quarter`'s chargeback (finance only; once)."""
    if not Access(by).is_finance:
        raise PermissionDenied("Finance closes quarters.")
    if quarter.end > timezone.now().date():
        raise ValidationError(close_problem(quarter))
    closed = closed_quarters()
    try:
        with transaction.atomic():
            close = QuarterClose.objects.create(quarter=quarter.name, closed_by=by, closed_at=timezone.now())
    except IntegrityError as error:
        raise ValidationError(f"{quarter} is already closed.") from error
    totals = Totals()
    batch: list[FrozenLine] = []
    for line in chargeback_lines(quarter=quarter, closed=closed):
        totals.add(line)
        batch.append(FrozenLine(close=close, **{name: getattr(line, name) for name in LINE_FIELDS}))
        if len(batch) >= BATCH:
            FrozenLine.objects.bulk_create(batch)
            batch.clear()
    FrozenLine.objects.bulk_create(batch)
    close.usage_usd, close.adjustments_usd = totals.usage_usd, totals.adjustments_usd
    close.build_usd, close.run_usd, close.unattributed_usd = totals.build_usd, totals.run_usd, totals.unattributed_usd
    close.line_count = totals.lines
    close.save()
    AuditEvent.record(
        "chargeback.quarter_closed",
        actor=by,
        target=close,
        quarter=quarter.name,
        lines=totals.lines,
        total_usd=usd(totals.total_usd),
        adjustments_usd=usd(totals.adjustments_usd),
    )
    return close
