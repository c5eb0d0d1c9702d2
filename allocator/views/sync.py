"""The usage sync status page: per-account health and lag, billed vs estimated, Sync now with live progress."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import AuditEvent
from accounts.permissions import Access
from allocator.models import (
    BilledCost,
    DailyRollup,
    ModelPrice,
    Policy,
    ProviderAccount,
    SyncRun,
)
from allocator.quarters import Quarter

# --- usage sync ---------------------------------------------------------------------------------------


SYNC_RUNS_SHOWN = 25
BILLED_DAYS_SHOWN = 14
SYNC_QUEUE_PATIENCE = timedelta(minutes=10)  # "Sync now" gives up polling when no worker took the task by then


def _require_finance(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not access.sees_everything:
        raise PermissionDenied
    return access


def _sync_rows(accounts: list[ProviderAccount]) -> list[dict[str, Any]]:
    """Per account: last run, last success, live run, lag, health, unknown models, spend. A fixed number of queries."""
    from allocator.admin import model_price_add_url
    from allocator.ingest import STALE_AFTER

    now = timezone.now()
    ids = [a.pk for a in accounts]
    runs_of = SyncRun.objects.filter(account=OuterRef("pk")).order_by("-started_at").values("pk")
    latest, succeeded = runs_of[:1], runs_of.filter(status=SyncRun.Status.SUCCEEDED)[:1]
    pointers = {
        row["pk"]: row
        for row in ProviderAccount.objects.filter(pk__in=ids)
        .annotate(last_run=Subquery(latest), last_success=Subquery(succeeded))
        .values("pk", "last_run", "last_success")
    }
    run_ids = {v for row in pointers.values() for v in (row["last_run"], row["last_success"]) if v}
    runs = SyncRun.objects.in_bulk(run_ids)
    live = {
        run.account_id: run
        for run in SyncRun.objects.filter(
            account_id__in=ids, status=SyncRun.Status.RUNNING, heartbeat_at__gte=now - STALE_AFTER
        ).order_by("started_at")
    }
    unknown: dict[int, set[str]] = {}
    recent = SyncRun.objects.filter(account_id__in=ids, started_at__gte=now - timedelta(days=14)).exclude(
        unknown_models=[]
    )
    for account_id, models in recent.values_list("account_id", "unknown_models"):
        unknown.setdefault(account_id, set()).update(models or [])
    priced = set(ModelPrice.objects.values_list("provider", "model"))
    quarter = Quarter.current()
    spend = {
        row["account"]: row
        for row in DailyRollup.objects.filter(account_id__in=ids, day__gte=quarter.start, day__lt=quarter.end)
        .values("account")
        .annotate(total=Sum("cost_usd"), unattributed=Sum("cost_usd", filter=Q(key__isnull=True)))
        .order_by()
    }
    interval = timedelta(minutes=settings.SYNC_INTERVAL_MINUTES)
    rows = []
    for account in accounts:
        last = runs.get(pointers.get(account.pk, {}).get("last_run"))
        success = runs.get(pointers.get(account.pk, {}).get("last_success"))
        lag = now - account.synced_until if account.synced_until else None
        if account.status == ProviderAccount.Status.CREDENTIALS_INVALID or (last and last.status == "failed"):
            health, health_label = "bad", "Failing"
        elif not account.enabled:
            health, health_label = "info", "Disabled"
        elif lag is None or lag > 2 * interval + timedelta(minutes=5):
            health, health_label = "warn", "Never synced" if lag is None else "Lagging"
        else:
            health, health_label = "ok", "Up to date"
        models = sorted(m for m in unknown.get(account.pk, set()) if (account.kind, m) not in priced)
        figures = spend.get(account.pk, {})
        running = live.get(account.pk)
        rows.append(
            {
                "account": account,
                "last": last,
                "success": success,
                "live": running,
                "progress": {"state": "running", "run": running, "poll": True} if running else {"state": "idle"},
                "after": now.isoformat(),
                "lag": lag,
                "lag_text": _duration_text(lag) if lag is not None else "never synced",
                "health": health,
                "health_label": health_label,
                "unknown": [(m, model_price_add_url(account.kind, m)) for m in models],
                "spend": figures.get("total") or Decimal("0"),
                "unattributed": figures.get("unattributed") or Decimal("0"),
            }
        )
    return rows


def _duration_text(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
    return f"{minutes // 1440} days"


def _billed_deltas(days: int = BILLED_DAYS_SHOWN) -> list[dict[str, Any]]:
    """Estimate vs billed per account and day, newest first (one query)."""
    since = timezone.now().date() - timedelta(days=days - 1)
    rows = (
        BilledCost.objects.filter(day__gte=since)
        .values("account__name", "day")
        .annotate(billed=Sum("billed_usd"), estimated=Sum("estimated_usd"))
        .order_by("-day", "account__name")
    )
    result = []
    for row in rows:
        delta = row["billed"] - row["estimated"]
        pct = (delta / row["estimated"] * 100) if row["estimated"] else None
        result.append({**row, "delta": delta, "pct": pct})
    return result


def _sync_progress(account: ProviderAccount, after: datetime | None) -> dict[str, Any]:
    """Where a "Sync now" stands: queued, running (with counts), done, or given up waiting for a worker."""
    from allocator.ingest import STALE_AFTER

    now = timezone.now()
    running = (
        SyncRun.objects.filter(account=account, status=SyncRun.Status.RUNNING, heartbeat_at__gte=now - STALE_AFTER)
        .order_by("-started_at")
        .first()
    )
    if running is not None:
        return {"state": "running", "run": running, "poll": True}
    if after is None:
        return {"state": "idle", "poll": False}
    done = SyncRun.objects.filter(account=account, finished_at__gte=after).order_by("-finished_at").first()
    if done is not None:
        return {"state": "done", "run": done, "poll": False}
    if now - after < SYNC_QUEUE_PATIENCE:
        return {"state": "queued", "poll": True}
    return {"state": "stuck", "poll": False}


@login_required
def sync_status(request: HttpRequest) -> HttpResponse:
    """Per provider account: last success, lag, rows, errors, unknown models, billed vs estimate; recent runs."""
    access = _require_finance(request)
    accounts = list(ProviderAccount.objects.all())
    rows = _sync_rows(accounts)
    quarter = Quarter.current()
    return render(
        request,
        "allocator/sync_status.html",
        {
            "rows": rows,
            "runs": SyncRun.objects.select_related("account")[:SYNC_RUNS_SHOWN],
            "billed": _billed_deltas(),
            "billed_days": BILLED_DAYS_SHOWN,
            "quarter": quarter,
            "healthy": sum(1 for r in rows if r["health"] == "ok"),
            "spend": sum((r["spend"] for r in rows), Decimal("0")),
            "unknown_count": sum(len(r["unknown"]) for r in rows),
            "last_success": max((r["success"].finished_at for r in rows if r["success"]), default=None),
            "interval": settings.SYNC_INTERVAL_MINUTES,
            "overlap": Policy.current().sync_overlap_hours,
            "can_price": access.is_admin,
        },
    )


def _account_row(request: HttpRequest, account: ProviderAccount, after: datetime | None) -> HttpResponse:
    row = _sync_rows([account])[0]
    row["progress"] = _sync_progress(account, after)
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
    AuditEvent.record("usage.sync_requested", actor=request.user, target=account)
    transaction.on_commit(lambda: sync_account.delay(account.pk, "manual"))
    if request.htmx:
        return _account_row(request, account, after)
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
