"""Usage sync: pull a provider account's usage for a window, store it page by page, reconcile, roll up.

`usage_sync` is the one entry point (Celery tasks, `manage.py sync_usage`, the "Sync now" button and the bench
all call it). A sync covers a window [start, end): from the last synced point minus the policy's overlap (late
data still changes recent buckets) to now, widened to whole UTC days. Page by page, in one short transaction
per page, rows are resolved to keys, priced (allocator.usage.pricing) and written (allocator.usage.writer); a
killed worker loses at most the page in flight. Re-pulling a window *replaces* it: rows of the window that the
provider no longer reports are deleted when the run succeeds, so nothing is ever counted twice. Then billed
cost is reconciled (allocator.usage.reconcile) and the changed days rolled up (allocator.usage.rollups).

One sync per account at a time: on PostgreSQL a session advisory lock (released by the server if the worker
dies), on SQLite a claim inside an IMMEDIATE transaction; on both, a RUNNING SyncRun whose heartbeat is older
than STALE_AFTER is marked failed and its window redone. Each page also checks that its run is still the
running one (the heartbeat update is the fence), so a run declared dead cannot write after its successor.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from celery import current_app
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.services import notify
from allocator.coding.sync import coding_window_store
from allocator.models import Policy, ProviderAccount, SyncRun, UsageBucket
from allocator.providers import provider_class
from allocator.providers.base import Provider, ProviderError, UsageRow
from allocator.quarters import Quarter
from allocator.usage.gaps import usage_gap_record
from allocator.usage.prefetch import prefetched
from allocator.usage.pricing import Pricer
from allocator.usage.reconcile import usage_reconcile
from allocator.usage.rollups import DAY, rollups_recompute
from allocator.usage.writer import BucketWriter, Page, bucket_rows, key_ids

logger = logging.getLogger(__name__)

ENFORCEMENT_TASK = "budgets.tasks.enforce_budgets"
LOCK_NAMESPACE = 0x5953  # first key of the two-key PostgreSQL advisory lock ("YS"); the second is the account id

Progress = Callable[[SyncRun], None]


class SyncSuperseded(Exception):
    """This run was declared dead (stale heartbeat) and another run took over its account."""


# --- windows ------------------------------------------------------------------------------------------


def day_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime.combine(moment.date(), time.min, tzinfo=UTC)


def sync_window(
    *,
    account: ProviderAccount,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The window the next sync of `account` covers: [synced_until − overlap, now), widened to whole UTC days.

    A first sync starts at the beginning of the current quarter (budgets are quarterly); `since` overrides.
    """
    now = now or timezone.now()
    end = until or now
    if since is not None:
        start = since
    elif account.synced_until is not None:
        start = account.synced_until - timedelta(hours=Policy.current().sync_overlap_hours)
    else:
        start = Quarter.current().start_at
    start = day_floor(min(start, end))
    history = provider_class(account.kind).usage_history_days
    if history is not None:
        start = max(start, day_floor(now) - timedelta(days=history))
    return start, end


def backfill_chunks(*, start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime | None]]:
    """Split [start, end) into whole-day chunks of `days`; the last chunk is open-ended (runs up to "now")."""
    chunks: list[tuple[datetime, datetime | None]] = []
    cursor = day_floor(start)
    step = timedelta(days=days)
    while cursor + step < end:
        chunks.append((cursor, cursor + step))
        cursor += step
    chunks.append((cursor, None))
    return chunks


def accounts_syncing() -> set[int]:
    """Ids of accounts with a live sync. On PostgreSQL those whose sync lock is held: a killed worker's session,
    and so its lock, is gone at once, and the next beat redoes its run instead of waiting for the heartbeat to go
    stale. Elsewhere those with a RUNNING run whose heartbeat is recent."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s "
                "AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [LOCK_NAMESPACE],
            )
            return {int(objid) for (objid,) in cursor.fetchall()}
    return set(SyncRun.objects.live().values_list("account_id", flat=True))


# --- one sync ------------------------------------------------------------------------------------------


def usage_sync(
    *,
    account: ProviderAccount,
    since: datetime | None = None,
    until: datetime | None = None,
    trigger: str = "beat",
    progress: Progress | None = None,
    provider: Provider | None = None,
    enforce: bool = True,
) -> SyncRun | None:
    """Pull, price, store, reconcile and roll up `account`'s usage for its next window (or [since, until)).

    Returns the finished SyncRun, or None when another sync of the account is running (this one stands back).
    A ProviderError is recorded on the run (and, for rejected credentials, on the account, with the admins
    told) and re-raised so the Celery task can retry; complete pages stay stored. `provider` replaces the
    account's adapter (the bench feeds generated pages through it). After a successful run the budget
    enforcement task is enqueued on commit, by name, unless `enforce` is False.
    """
    account = ProviderAccount.objects.get(pk=account.pk)  # synced_until as stored, not as the caller last saw it
    usage_gap_record(account=account)  # before this run moves synced_until past days the provider no longer has
    start, end = sync_window(account=account, since=since, until=until)
    with _account_lock(account.pk) as locked:
        if not locked:
            return None
        claimed = _claim(account=account, start=start, end=end, trigger=trigger)
        if claimed is None:
            return None
        run, dirty = claimed
        adapter = provider or account.adapter()
        try:
            with _fewer_gc_passes():
                return _run(run=run, account=account, adapter=adapter, progress=progress, enforce=enforce, dirty=dirty)
        finally:
            _throttles_record(account=account, adapter=adapter)


def _throttles_record(*, account: ProviderAccount, adapter: Provider) -> None:
    """The 429s this sync got: a capacity hint (allocator.capacity)."""
    from allocator.capacity.limits import throttles_record

    throttles_record(account=account, count=getattr(getattr(adapter, "http", None), "throttled", 0), now=timezone.now())


def _run(
    *,
    run: SyncRun,
    account: ProviderAccount,
    adapter: Provider,
    progress: Progress | None,
    enforce: bool,
    dirty: set[date],
) -> SyncRun:
    """`dirty`: days to roll up whatever this run changes (a dead worker's run stored pages it never rolled up)."""
    pricer = Pricer(provider=account.kind)
    writer = BucketWriter(account_id=account.pk, stamp=run.started_at, run_id=run.pk)
    changed: set[date] = set(dirty)
    try:
        if account.capabilities.coding_usage:  # a coding tool: whole days, each stored and rolled up as it comes
            coding_window_store(run=run, account=account, adapter=adapter, heartbeat=_heartbeat, changed=changed,
                                progress=progress)  # fmt: skip
        else:
            _pull_buckets(run=run, account=account, adapter=adapter, pricer=pricer, writer=writer, progress=progress,
                          changed=changed)  # fmt: skip
    except SyncSuperseded:
        logger.warning("sync #%s of %s was taken over by a newer run", run.pk, account)
        run.refresh_from_db()
        return run
    except BaseException as error:  # noqa: BLE001 - record every failure (also time limits), then re-raise
        _fail(run=run, account=account, error=error, changed=changed)
        raise
    finally:
        writer.close()
    _succeed(run=run, account=account, unknown=pricer.unknown_models, enforce=enforce)
    return run


def _pull_buckets(
    *,
    run: SyncRun,
    account: ProviderAccount,
    adapter: Provider,
    pricer: Pricer,
    writer: BucketWriter,
    progress: Progress | None,
    changed: set[date],
) -> None:
    """Store the window's pages, delete what the provider no longer reports, reconcile and roll up."""
    had_rows = UsageBucket.objects.filter(
        account=account, bucket_start__gte=run.window_start, bucket_start__lt=run.window_end
    ).exists()  # a first pull or a back-fill has nothing to replace
    _store_pages(run=run, account=account, adapter=adapter, pricer=pricer, writer=writer, progress=progress,
                 changed=changed)  # fmt: skip
    if had_rows:
        changed |= _replace_unseen(run=run, account=account, writer=writer)
    if account.capabilities.cost:
        changed |= usage_reconcile(account=account, adapter=adapter, start=run.window_start, end=run.window_end)
    rollups_recompute(account=account, days=changed)


def _store_pages(
    *,
    run: SyncRun,
    account: ProviderAccount,
    adapter: Provider,
    pricer: Pricer,
    writer: BucketWriter,
    progress: Progress | None,
    changed: set[date],
) -> None:
    """Pull the run's window page by page and store each page in its own short transaction (a killed worker
    loses at most the page in flight). Adds the days whose buckets changed to `changed` as each page commits, so a
    failure part-way still rolls up the stored pages."""
    keys = key_ids(account)

    def prepare(page: list[UsageRow]) -> Page:
        rows = bucket_rows(page, account_id=account.pk, keys=keys, pricer=pricer, stamp=run.started_at)
        return Page.of(rows, stamp=run.started_at, copy_text=writer.postgres, unknown_models=pricer.unknown_models)

    pages = adapter.pull_usage(start=run.window_start, end=run.window_end)
    if adapter.reads_database:
        prepared = (prepare(page) for page in pages)
    else:
        # A producer process on PostgreSQL: it sends COPY text, which pickles cheaply (SQLite needs the rows).
        prepared = prefetched(pages, prepare, process=writer.postgres)
    for page in prepared:
        pricer.unknown_models |= page.unknown_models  # priced in the producer: its pricer saw them
        with transaction.atomic():
            days = writer.write(page)
            _heartbeat(run, rows=page.count, unknown=pricer.unknown_models)
        changed |= days
        if progress is not None:
            progress(run)


def _replace_unseen(*, run: SyncRun, account: ProviderAccount, writer: BucketWriter) -> set[date]:
    """Delete the window's stored rows this pull did not report again (re-pulling replaces, never adds)."""
    only_seen = provider_class(account.kind).replace_only_seen_keys
    with transaction.atomic():
        return writer.delete_unseen(
            start=run.window_start, end=run.window_end, only_keys=writer.keys_seen if only_seen else None
        )


def _claim(
    *, account: ProviderAccount, start: datetime, end: datetime, trigger: str
) -> tuple[SyncRun, set[date]] | None:
    """Create this sync's RUNNING run unless a live one exists; mark runs of dead workers failed.

    Returns the run and the days of the dead runs' windows: they may hold stored pages that were never rolled up.
    """
    now = timezone.now()
    with transaction.atomic():
        # PostgreSQL: we hold the advisory lock, so every RUNNING run is an orphan; the row lock orders claims
        # anyway. SQLite: the IMMEDIATE transaction (settings) serializes this check-and-insert.
        ProviderAccount.objects.select_for_update().filter(pk=account.pk).exists()
        running = SyncRun.objects.select_for_update().filter(account=account, status=SyncRun.Status.RUNNING)
        if connection.vendor != "postgresql" and running.live(now=now).exists():
            return None
        run = SyncRun.objects.create(
            account=account, trigger=trigger[:16], window_start=start, window_end=end, started_at=now, heartbeat_at=now
        )
        dirty: set[date] = set()
        for orphan in running.exclude(pk=run.pk):
            orphan.status = SyncRun.Status.FAILED
            orphan.finished_at = now
            orphan.error = (
                f"The worker running this sync stopped (last heartbeat {orphan.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC). "
                f"Sync #{run.pk} took over: windows are pulled again (stored pages are replaced, never added) "
                "and this run's days rolled up again."
            )
            orphan.save(update_fields=["status", "finished_at", "error"])
            if orphan.pages:
                day, last = orphan.window_start.astimezone(UTC).date(), orphan.window_end.astimezone(UTC).date()
                while day <= last:
                    dirty.add(day)
                    day += DAY
    return run, dirty


def _heartbeat(run: SyncRun, *, rows: int, unknown: set[str]) -> None:
    now = timezone.now()
    updated = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        heartbeat_at=now, pages=F("pages") + 1, rows=F("rows") + rows, unknown_models=sorted(unknown)
    )
    if not updated:
        raise SyncSuperseded(run.pk)
    run.heartbeat_at, run.pages, run.rows, run.unknown_models = now, run.pages + 1, run.rows + rows, sorted(unknown)


def _succeed(*, run: SyncRun, account: ProviderAccount, unknown: set[str], enforce: bool) -> None:
    now = timezone.now()
    with transaction.atomic():
        account = ProviderAccount.objects.select_for_update().get(pk=account.pk)
        # Only a contiguous window moves the high-water mark (a back-fill of old days must not move it back).
        if account.synced_until is None or run.window_start <= account.synced_until:
            account.synced_until = max(account.synced_until or run.window_end, run.window_end)
        account.last_sync_at = now
        fields = ["synced_until", "last_sync_at"]
        if account.status != ProviderAccount.Status.OK:
            account.status = ProviderAccount.Status.OK
            account.status_message = "Usage synced."
            account.status_checked_at = now
            fields += ["status", "status_message", "status_checked_at"]
        account.save(update_fields=fields)
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncRun.Status.SUCCEEDED, finished_at=now, heartbeat_at=now, unknown_models=sorted(unknown)
        )
        if enforce:
            transaction.on_commit(_enqueue_enforcement)
    run.status, run.finished_at, run.unknown_models = SyncRun.Status.SUCCEEDED, now, sorted(unknown)


def _fail(*, run: SyncRun, account: ProviderAccount, error: BaseException, changed: set[date]) -> None:
    """Record the failure. Complete pages stay stored, so their days are rolled up again."""
    message = str(error) or error.__class__.__name__
    if not isinstance(error, ProviderError):
        message = f"{error.__class__.__name__}: {message}"
        logger.exception("usage sync of %s failed", account)
    try:
        rollups_recompute(account=account, days=changed)
    except Exception:  # noqa: BLE001 - the original error is the one to report
        logger.exception("could not roll up the pages stored before the failure")
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, finished_at=now, error=message[:2000])
    run.status, run.finished_at, run.error = SyncRun.Status.FAILED, now, message[:2000]
    if isinstance(error, ProviderError) and error.auth:
        _credentials_rejected(account=account, message=message)


def _credentials_rejected(*, account: ProviderAccount, message: str) -> None:
    with transaction.atomic():
        account = ProviderAccount.objects.select_for_update().get(pk=account.pk)
        already = account.status == ProviderAccount.Status.CREDENTIALS_INVALID
        account.status = ProviderAccount.Status.CREDENTIALS_INVALID
        account.status_message = f"Usage sync: {message}"[:1000]
        account.status_checked_at = timezone.now()
        account.save(update_fields=["status", "status_message", "status_checked_at"])
        if not already:  # tell the admins once, not every fifteen minutes
            notify(
                users=User.objects.filter(role=User.Role.ADMIN, is_active=True),
                text=f"{account.name}: the provider rejected the admin credential; usage is not syncing. {message}",
                url=account.get_absolute_url(),
            )


def _enqueue_enforcement() -> None:
    # By name, so allocator never imports budgets; a broker hiccup must not fail a finished sync.
    try:
        current_app.send_task(ENFORCEMENT_TASK)
    except Exception:  # noqa: BLE001
        logger.warning("could not enqueue %s after a usage sync", ENFORCEMENT_TASK, exc_info=True)


# --- the lock -------------------------------------------------------------------------------------------


class _account_lock:  # noqa: N801 - used like a function: `with _account_lock(pk) as locked:`
    """PostgreSQL: a session advisory lock on (LOCK_NAMESPACE, account id), tried without waiting. It lives as
    long as the connection, so a killed worker releases it; it is not tied to the page transactions. Other
    databases: always "locked"; `_claim` does the exclusion there."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.held = False

    def __enter__(self) -> bool:
        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, self.account_id])
            self.held = bool(cursor.fetchone()[0])
        return self.held

    def __exit__(self, *exc_info: object) -> None:
        if not self.held:
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, self.account_id])
        except Exception:  # noqa: BLE001 - a broken connection has released the lock already
            logger.warning("could not release the sync lock of account %s", self.account_id, exc_info=True)


# --- memory ---------------------------------------------------------------------------------------------


_GC_LOCK = threading.Lock()
_GC_USERS = 0
_GC_SAVED: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """A sync allocates millions of short-lived, acyclic objects (rows, tuples) that reference counting frees.
    Python's cyclic collector, run every 700 allocations, would rescan the long-lived heap again and again
    (it doubled the cost of parsing in the bench), so while syncs run the heap that existed before is frozen
    and the collector runs less often. The first sync in the process changes this and the last one restores
    it (a threaded worker may run several at once)."""
    global _GC_USERS, _GC_SAVED
    with _GC_LOCK:
        if _GC_USERS == 0:
            _GC_SAVED = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(_GC_SAVED[0], 50_000), _GC_SAVED[1], _GC_SAVED[2])
        _GC_USERS += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_USERS -= 1
            if _GC_USERS == 0:
                gc.set_threshold(*_GC_SAVED)
                gc.unfreeze()
