"""The sync status page (finance and admins): per-account health, "Sync now" with live progress, recent runs."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import AuditEvent
from accounts.permissions import Access
from allocator.models import Policy, ProviderAccount, SyncRun
from allocator.money import ZERO
from allocator.quarters import Quarter
from allocator.task_queue import QUEUE_DOWN_MESSAGE, task_send
from allocator.usage.status import (
    BILLED_DAYS_SHOWN,
    SYNC_RUNS_SHOWN,
    billed_deltas,
    schedule_text,
    sync_progress,
    sync_rows,
)


def _require_finance(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not access.sees_everything:
        raise PermissionDenied
    return access


@login_required
def sync_status(request: HttpRequest) -> HttpResponse:
    """Per provider account: last success, lag, rows, errors, unknown models, billed vs estimate; recent runs."""
    access = _require_finance(request)
    rows = sync_rows(list(ProviderAccount.objects.all()))
    return render(
        request,
        "allocator/sync_status.html",
        {
            "rows": rows,
            "runs": SyncRun.objects.select_related("account")[:SYNC_RUNS_SHOWN],
            "billed": billed_deltas(),
            "billed_days": BILLED_DAYS_SHOWN,
            "quarter": Quarter.current(),
            "healthy": sum(1 for r in rows if r["health"] == "ok"),
            "spend": sum((r["spend"] for r in rows), ZERO),
            "unknown_count": sum(len(r["unknown"]) for r in rows),
            "last_success": max((r["success"].finished_at for r in rows if r["success"]), default=None),
            "schedule": schedule_text(),
            "overlap": Policy.current().sync_overlap_hours,
            "can_price": access.is_admin,
        },
    )


def _account_row(request: HttpRequest, account: ProviderAccount, after: datetime | None) -> HttpResponse:
    row = sync_rows([account])[0]
    row["progress"] = sync_progress(account, after)
    row["after"] = after.isoformat() if after else ""
    context = {"row": row, "can_price": Access.for_request(request).is_admin}
    return render(request, "allocator/sync_status.html#account_row", context)


@login_required
@require_POST
def sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a sync of one account (htmx: answer its row, which then polls until the run ends)."""
    from allocator.tasks import sync_account

    _require_finance(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    after = timezone.now()
    row = _account_row(request, account, after) if request.htmx else None  # "queued", before a worker can start
    if not task_send(sync_account, account.pk, "manual"):  # sent now, so a broker outage is said here, not a 500
        messages.error(request, f"Sync of {account} not started. {QUEUE_DOWN_MESSAGE}")
        if request.htmx:
            return HttpResponseClientRedirect(reverse("allocator:sync_status"))
        return redirect("allocator:sync_status")
    AuditEvent.record("usage.sync_requested", actor=request.user, target=account)
    if row is not None:
        return row
    messages.success(request, f"Sync of {account} queued; this page shows it when it ends.")
    return redirect("allocator:sync_status")


@login_required
def sync_account_status(request: HttpRequest, pk: int) -> HttpResponse:
    """One account's row of the sync status page (polled every 2 s while a requested sync is queued or running)."""
    _require_finance(request)
    account = get_object_or_404(ProviderAccount, pk=pk)
    try:
        after = datetime.fromisoformat(request.GET["after"]) if request.GET.get("after") else None
    except ValueError:
        after = None
    return _account_row(request, account, after)
