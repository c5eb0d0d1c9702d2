"""Reads for the sync status page: per-account health and lag, the beat schedule, billed vs estimate, progress."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone

from allocator.admin import model_price_add_url
from allocator.models import BilledCost, DailySummary, ModelPrice, ProviderAccount, SyncRun
from allocator.money import ZERO
from allocator.quarters import Quarter
from allocator.usage.models import SummaryKind

SYNC_RUNS_SHOWN = 25
BILLED_DAYS_SHOWN = 14
SYNC_QUEUE_PATIENCE = timedelta(minutes=10)  # "Sync now" gives up polling when no worker took the task by then
SYNC_TASK = "allocator.tasks.sync_all_accounts"


def sync_intervals() -> dict[str | None, timedelta]:
    """How often beat syncs each provider kind, read from CELERY_BEAT_SCHEDULE (key None: every other kind)."""
    intervals: dict[str | None, timedelta] = {}
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        schedule = entry.get("schedule")
        if entry.get("task") != SYNC_TASK or not isinstance(schedule, int | float | timedelta):
            continue
        every = schedule if isinstance(schedule, timedelta) else timedelta(seconds=schedule)
        for kind in (entry.get("kwargs") or {}).get("kinds") or [None]:
            intervals[kind] = min(every, intervals.get(kind, every))
    return intervals


def sync_interval(kind: str, intervals: dict[str | None, timedelta] | None = None) -> timedelta | None:
    """How often beat syncs accounts of `kind` (None: beat does not sync it)."""
    intervals = sync_intervals() if intervals is None else intervals
    candidates = [every for key, every in intervals.items() if key in (None, kind)]
    return min(candidates, default=None)


def schedule_text(intervals: dict[str | None, timedelta] | None = None) -> str:
    """The beat schedule in words, e.g. "every 15 minutes (simulated accounts: every 2 minutes)"."""
    intervals = sync_intervals() if intervals is None else intervals
    if not intervals:
        return "only when someone presses “Sync now” (beat has no usage sync scheduled)"
    labels = dict(ProviderAccount._meta.get_field("kind").choices)
    parts = [f"every {_spelled_out(intervals[None])}"] if None in intervals else []
    for kind, every in intervals.items():
        if kind is not None and (None not in intervals or every < intervals[None]):
            parts.append(f"{_kind_noun(labels.get(kind, kind), kind)} accounts: every {_spelled_out(every)}")
    return parts[0] + (f" ({'; '.join(parts[1:])})" if len(parts) > 1 else "")


def _kind_noun(label: str, kind: str) -> str:
    """A kind's name mid-sentence: "Simulated (built in)" → "simulated"; brands such as "OpenAI" keep theirs."""
    name = label.split(" (")[0]
    return name.lower() if name != label and name.lower() == kind else name


def _spelled_out(span: timedelta) -> str:
    """The schedule in a sentence: "15 minutes", "1 hour", "2 days" (the tables use the short `duration_text`)."""
    minutes = max(1, int(span.total_seconds() // 60))
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{minutes} minutes"


def _health(account: ProviderAccount, last: SyncRun | None, lag: timedelta | None, interval: timedelta | None):
    if account.status == ProviderAccount.Status.CREDENTIALS_INVALID or (last and last.status == "failed"):
        return "bad", "Failing"
    if not account.enabled:
        return "info", "Disabled"
    if lag is None:
        return "warn", "Never synced"
    if interval is not None and lag > 2 * interval + timedelta(minutes=5):
        return "warn", "Lagging"
    return "ok", "Up to date"


def _latest_runs(ids: list[int]) -> tuple[dict[int, SyncRun], dict[int, SyncRun]]:
    """Per account id: its latest run, and its latest successful run (two queries)."""
    runs_of = SyncRun.objects.filter(account=OuterRef("pk")).order_by("-started_at").values("pk")
    pointers = list(
        ProviderAccount.objects.filter(pk__in=ids)
        .annotate(last_run=Subquery(runs_of[:1]), last_success=Subquery(runs_of.filter(status="succeeded")[:1]))
        .values("pk", "last_run", "last_success")
    )
    runs = SyncRun.objects.in_bulk({v for row in pointers for v in (row["last_run"], row["last_success"]) if v})
    last = {row["pk"]: runs[row["last_run"]] for row in pointers if row["last_run"]}
    success = {row["pk"]: runs[row["last_success"]] for row in pointers if row["last_success"]}
    return last, success


def _unknown_models(ids: list[int], now: datetime) -> dict[int, set[str]]:
    unknown: dict[int, set[str]] = {}
    recent = SyncRun.objects.filter(account_id__in=ids, started_at__gte=now - timedelta(days=14))
    for account_id, models in recent.exclude(unknown_models=[]).values_list("account_id", "unknown_models"):
        unknown.setdefault(account_id, set()).update(models or [])
    return unknown


def _quarter_spend(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per account: spend this quarter and the part no key carries, from the daily summary (one small query)."""
    quarter = Quarter.current()
    rows = (
        DailySummary.objects.filter(
            kind=SummaryKind.ACCOUNT, ref__in=[str(pk) for pk in ids], day__gte=quarter.start, day__lt=quarter.end
        )
        .values("ref")
        .annotate(total=Sum("cost_usd"), unattributed=Sum("unattributed_cost_usd"))
        .order_by()
    )
    return {int(row["ref"]): row for row in rows}


def sync_rows(accounts: list[ProviderAccount]) -> list[dict[str, Any]]:
    """Per account: last run, last success, live run, lag, health, unknown models, spend. A fixed number of queries."""
    now = timezone.now()
    ids = [a.pk for a in accounts]
    last_runs, successes = _latest_runs(ids)
    live_runs = SyncRun.objects.live(now=now).filter(account_id__in=ids).order_by("started_at")
    live = {run.account_id: run for run in live_runs}
    unknown = _unknown_models(ids, now)
    priced = set(ModelPrice.objects.values_list("provider", "model"))
    spend = _quarter_spend(ids)
    intervals = sync_intervals()
    rows = []
    for account in accounts:
        last = last_runs.get(account.pk)
        lag = now - account.synced_until if account.synced_until else None
        health, health_label = _health(account, last, lag, sync_interval(account.kind, intervals))
        models = sorted(m for m in unknown.get(account.pk, set()) if (account.kind, m) not in priced)
        figures = spend.get(account.pk, {})
        running = live.get(account.pk)
        rows.append(
            {
                "account": account,
                "last": last,
                "success": successes.get(account.pk),
                "live": running,
                "progress": {"state": "running", "run": running, "poll": True} if running else {"state": "idle"},
                "after": now.isoformat(),
                "lag": lag,
                "lag_text": duration_text(lag) if lag is not None else "never synced",
                "health": health,
                "health_label": health_label,
                "unknown": [(m, model_price_add_url(account.kind, m)) for m in models],
                "spend": figures.get("total") or ZERO,
                "unattributed": figures.get("unattributed") or ZERO,
            }
        )
    return rows


def duration_text(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
    return f"{minutes // 1440} days"


def billed_deltas(days: int = BILLED_DAYS_SHOWN) -> list[dict[str, Any]]:
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


def sync_progress(account: ProviderAccount, after: datetime | None) -> dict[str, Any]:
    """Where a "Sync now" stands: queued, running (with counts), done, or given up waiting for a worker."""
    now = timezone.now()
    running = SyncRun.objects.live(now=now).filter(account=account).order_by("-started_at").first()
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
