"""Usage ingestion: pull a provider account's usage, price it, upsert it, reconcile it to the bill, roll it up.

`usage_sync` is the one entry point (Celery tasks, `manage.py sync_usage`, the "Sync now" button and the bench
all call it). A sync covers a window [start, end): from the last synced point minus the policy's overlap (late
data still changes recent buckets) to now, widened to whole UTC days. Page by page, in one short transaction
per page, rows are resolved to keys, priced (allocator.pricing) and written; a killed worker loses at most the
page in flight. Re-pulling a window *replaces* it: rows of the window that the provider no longer reports are
deleted when the run succeeds, so nothing is ever counted twice.

How rows are written (the same SQL on SQLite and PostgreSQL, only the bulk loader differs):

- A page whose time range holds no rows of the account yet (a first pull, a back-fill) goes straight into the
  table (PostgreSQL: COPY; SQLite: executemany).
- Any other page is loaded into a temporary staging table and merged with one
  `INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE <something changed>`, which rewrites only rows whose
  numbers changed (re-pulling an unchanged window writes nothing). The identities of merged rows go to a
  temporary "seen" table.
- At the end, rows of the window that existed before the run (id <= the run's id watermark) and are not in
  "seen" are deleted. That also retires OpenRouter's live "openrouter/today" row once the completed day
  arrives.

Only the UTC days whose buckets actually changed are rolled up again (set-based: one DELETE and one
INSERT … SELECT per run of consecutive days), so a re-pull of an unchanged window costs no rollup work.

One sync per account at a time: on PostgreSQL a session advisory lock (released by the server if the worker
dies), on SQLite a claim inside an IMMEDIATE transaction; on both, a RUNNING SyncRun whose heartbeat is older
than STALE_AFTER is marked failed and its window redone. Each page also checks that its run is still the
running one (the heartbeat update is the fence), so a run declared dead cannot write after its successor.
"""

from __future__ import annotations

import calendar
import gc
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from operator import attrgetter

from celery import current_app
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Team, User
from accounts.services import notify
from allocator.models import (
    BilledCost,
    DailyRollup,
    Key,
    Policy,
    ProviderAccount,
    SyncRun,
    UsageBucket,
)
from allocator.pricing import ZERO, Pricer, money
from allocator.providers.base import CostRow, Provider, ProviderError, UsageRow
from allocator.quarters import Quarter

logger = logging.getLogger(__name__)

ENFORCEMENT_TASK = "budgets.tasks.enforce_budgets"
STALE_AFTER = timedelta(minutes=10)  # a RUNNING run without a heartbeat for this long belongs to a dead worker
LOCK_NAMESPACE = 0x5953  # first key of the two-key PostgreSQL advisory lock ("YS"); the second is the account id
DAY = timedelta(days=1)
# Providers whose usage API forgets old days: a window reaching further back is clamped, or the replace step
# would delete stored history the provider can no longer send.
USAGE_HISTORY_DAYS = {"openrouter": 30}
# Providers that drop a deleted key's history with the key (OpenRouter lists only live keys): the replace
# step only touches keys that appear in the pull, so revoking a key never erases its past spend.
REPLACE_ONLY_SEEN_KEYS = {"openrouter"}
RESIDUAL_MODEL = "(billed, no matching usage)"
# Adapters that read the database while pulling (the simulated provider plays its part from SimulatedKey rows):
# their pages are prepared on the calling thread, not ahead in a helper thread.
DATABASE_BACKED = {"simulated"}

BUCKET_TABLE = UsageBucket._meta.db_table
ROLLUP_TABLE = DailyRollup._meta.db_table
IDENTITY = ("bucket_start", "bucket_width", "provider_key_id", "model", "dims")  # after account_id
VALUES = (
    "key_id",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "estimated_cost_usd",
    "cost_usd",
    "cost_source",
)
COLUMNS = ("account_id", *IDENTITY, *VALUES, "synced_at")

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
    history = USAGE_HISTORY_DAYS.get(account.kind)
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
    """Ids of accounts with a live (recent heartbeat) RUNNING sync."""
    fresh = timezone.now() - STALE_AFTER
    return set(
        SyncRun.objects.filter(status=SyncRun.Status.RUNNING, heartbeat_at__gte=fresh).values_list(
            "account_id", flat=True
        )
    )


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
    start, end = sync_window(account=account, since=since, until=until)
    with _account_lock(account.pk) as locked:
        if not locked:
            return None
        claimed = _claim(account=account, start=start, end=end, trigger=trigger)
        if claimed is None:
            return None
        run, dirty = claimed
        adapter = provider or account.adapter()
        with _fewer_gc_passes():
            return _run(run=run, account=account, adapter=adapter, progress=progress, enforce=enforce, dirty=dirty)


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
    writer = _BucketWriter(account_id=account.pk, stamp=run.started_at, run_id=run.pk)
    changed: set[date] = set(dirty)
    try:
        keys = _key_ids(account)

        def prepare(page: list[UsageRow]) -> _Page:
            rows = _bucket_rows(page, account_id=account.pk, keys=keys, pricer=pricer, stamp=run.started_at)
            return _Page.of(rows, stamp=run.started_at, copy_text=writer.postgres)

        pages = adapter.pull_usage(start=run.window_start, end=run.window_end)
        prepared = (
            _prefetched(pages, prepare) if adapter.kind not in DATABASE_BACKED else (prepare(page) for page in pages)
        )
        window = UsageBucket.objects.filter(
            account=account, bucket_start__gte=run.window_start, bucket_start__lt=run.window_end
        )
        had_rows = window.exists()  # a first pull or a back-fill has nothing to replace
        for page in prepared:
            with transaction.atomic():
                changed |= writer.write(page)
                _heartbeat(run, rows=len(page.rows), unknown=pricer.unknown_models)
            if progress is not None:
                progress(run)
        if had_rows:
            with transaction.atomic():
                changed |= writer.delete_unseen(
                    start=run.window_start,
                    end=run.window_end,
                    only_keys=writer.keys_seen if account.kind in REPLACE_ONLY_SEEN_KEYS else None,
                )
        if account.capabilities.cost:
            changed |= _reconcile(account=account, adapter=adapter, start=run.window_start, end=run.window_end)
        rollups_recompute(account=account, days=changed)
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
        if connection.vendor != "postgresql" and running.filter(heartbeat_at__gte=now - STALE_AFTER).exists():
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


# --- rows -----------------------------------------------------------------------------------------------


def _key_ids(account: ProviderAccount) -> dict[str, int]:
    """Provider key id → Key pk, including the ids a key had before rotation (their usage stays with it)."""
    ids: dict[str, int] = {}
    for pk, provider_key_id, data in Key.objects.filter(account=account).values_list(
        "pk", "provider_key_id", "provider_data"
    ):
        for previous in (data or {}).get("previous_key_ids", []):
            ids.setdefault(str(previous), pk)
        ids[provider_key_id] = pk
    return ids


_DIMS: dict[tuple, str] = {}


def dims_text(dimensions: dict[str, str]) -> str:
    """A grouping dimension dict as a stable string ("project_id=proj_1&workspace_id=…"): part of a row's identity."""
    if not dimensions:
        return ""
    items = tuple(dimensions.items())
    text = _DIMS.get(items)
    if text is None:
        text = "&".join(f"{k}={v}" for k, v in sorted(items) if v not in (None, ""))[:255]
        if len(_DIMS) < 100_000:  # a few thousand projects/workspaces in practice; never unbounded
            _DIMS[items] = text
    return text


_ROW_FIELDS = attrgetter(
    "bucket_start",
    "bucket_width",
    "provider_key_id",
    "model",
    "dimensions",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
)


def _bucket_rows(
    page: Iterable[UsageRow], *, account_id: int, keys: dict[str, int], pricer: Pricer, stamp: datetime
) -> list[tuple]:
    """One tuple per bucket, in COLUMNS order: key resolved, priced. Rows sharing an identity within a page are
    summed (a page never holds a bucket twice, but a merged statement must not touch a row twice).

    This loop runs once per usage row (a million in the bench), so fields are read in one go and the dimension
    string is reused while consecutive rows share their dimensions.
    """
    merged: dict[tuple, tuple] = {}
    price, key_of, fields = pricer.price, keys.get, _ROW_FIELDS
    last_dimensions: dict | None = None
    dims = ""
    for row in page:
        start, width, provider_key_id, model, dimensions, tokens_in, cached, writes, tokens_out, requests = fields(row)
        if dimensions != last_dimensions:
            last_dimensions, dims = dimensions, dims_text(dimensions) if dimensions else ""
        provider_key_id = provider_key_id or ""
        estimate, cost, source = price(row)
        key_id = key_of(provider_key_id) if provider_key_id else None
        values = (account_id, start, width, provider_key_id, model, dims, key_id, tokens_in, cached, writes,
                  tokens_out, requests, estimate, cost, source, stamp)  # fmt: skip
        identity = (start, width, provider_key_id, model, dims)
        current = merged.setdefault(identity, values)
        if current is not values:
            merged[identity] = _summed(current, values)
    return list(merged.values())


def _summed(a: tuple, b: tuple) -> tuple:
    requests = a[11] if b[11] is None else (a[11] or 0) + b[11]
    return (
        *a[:7],
        a[7] + b[7],
        a[8] + b[8],
        a[9] + b[9],
        a[10] + b[10],
        requests,
        a[12] + b[12],
        a[13] + b[13],
        *a[14:],
    )


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


def _prefetched(pages: Iterator[list[UsageRow]], prepare: Callable[[list[UsageRow]], _Page]) -> Iterator[_Page]:
    """`prepare(page)` for each page, computed one page ahead in a helper thread.

    Fetching and parsing the next page (HTTP, JSON, pricing) then overlaps with writing this one (the database
    works while this thread waits on it). The helper thread never touches the database, so it is only used for
    adapters that do not either. An error in the helper is raised here; when the caller stops early, the helper
    finishes the page in hand and exits.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for page in pages:
                if not put(("page", prepare(page))):
                    return
            put(("end", None))
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread
            put(("error", error))

    threading.Thread(target=work, name="usage-prefetch", daemon=True).start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def _copy_field(value: object) -> str:
    """One value in COPY's text format (\\N is NULL; backslash, tab and newlines escaped)."""
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy_text(rows: list[tuple], stamp: datetime, chunk_rows: int = 5000) -> Iterator[str]:
    """Rows as COPY text, a few thousand lines per chunk. Formatting by hand is several times faster than
    psycopg's per-row write_row, and the server parses while the next chunk is built. The text columns repeat
    (a few thousand keys, a few dozen models), so each distinct value is escaped once."""
    text: dict = {}
    null = "\\N"
    synced = stamp.isoformat()
    lines: list[str] = []
    for row in rows:
        start, width, key, model, dims = row[1:6]
        try:
            start, width, key, model, dims = text[start], text[width], text[key], text[model], text[dims]
        except KeyError:
            for value in (width, key, model, dims):
                text.setdefault(value, _copy_field(value))
            text.setdefault(start, start.isoformat())
            start, width, key, model, dims = text[start], text[width], text[key], text[model], text[dims]
        key_id, requests = row[6], row[11]
        lines.append(
            f"{row[0]}\t{start}\t{width}\t{key}\t{model}\t{dims}\t{null if key_id is None else key_id}\t"
            f"{row[7]}\t{row[8]}\t{row[9]}\t{row[10]}\t{null if requests is None else requests}\t"
            f"{row[12]!s}\t{row[13]!s}\t{row[14]}\t{synced}\n"
        )
        if len(lines) >= chunk_rows:
            yield "".join(lines)
            lines.clear()
    if lines:
        yield "".join(lines)


@dataclass
class _Page:
    """A page ready to store: bucket tuples, their time buckets and provider key ids, and (for PostgreSQL) the
    COPY text, all built before the page's transaction opens (ahead, in the prefetch thread, where there is one)."""

    rows: list[tuple]
    starts: set[datetime]
    keys: set[str]
    text: list[str] | None

    @classmethod
    def of(cls, rows: list[tuple], *, stamp: datetime, copy_text: bool) -> _Page:
        return cls(
            rows=rows,
            starts={row[1] for row in rows},
            keys={row[3] for row in rows},
            text=list(_copy_text(rows, stamp)) if copy_text and rows else None,
        )


def _day_of(value: datetime | str) -> date:
    return date.fromisoformat(str(value)[:10])


@dataclass
class _BucketWriter:
    """Writes pages of bucket tuples for one run on the current connection (see the module docstring)."""

    account_id: int
    stamp: datetime
    run_id: int
    keys_seen: set[str] = field(default_factory=set)
    watermark: int = 0

    def __post_init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.distinct = "IS DISTINCT FROM" if self.postgres else "IS NOT"
        self.same = "IS NOT DISTINCT FROM" if self.postgres else "IS"
        with connection.cursor() as cursor:
            # Every row stored before this run has an id at or below the watermark; rows this run inserts get
            # higher ones. PostgreSQL: the id sequence's position (MAX(id) can crawl over dead index entries).
            if self.postgres:
                cursor.execute(
                    f"SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('{BUCKET_TABLE}', 'id')), 0)"
                )
            else:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {BUCKET_TABLE}")  # noqa: S608 - our table name
            self.watermark = int(cursor.fetchone()[0])
            fields = {f.column: f for f in UsageBucket._meta.concrete_fields}
            columns = ", ".join(f"{c} {fields[c].db_type(connection)}" for c in COLUMNS)
            identity = ", ".join(f"{c} {fields[c].db_type(connection)}" for c in IDENTITY)
            cursor.execute("DROP TABLE IF EXISTS usage_stage")
            cursor.execute("DROP TABLE IF EXISTS usage_seen")
            cursor.execute(f"CREATE TEMPORARY TABLE usage_stage ({columns})")
            cursor.execute(f"CREATE TEMPORARY TABLE usage_seen ({identity})")
            if not self.postgres:
                cursor.execute("CREATE INDEX usage_seen_identity ON usage_seen (bucket_start, provider_key_id, model)")

    def close(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS usage_stage")
                cursor.execute("DROP TABLE IF EXISTS usage_seen")
        except Exception:  # noqa: BLE001 - temporary tables die with the connection anyway
            logger.debug("could not drop the staging tables", exc_info=True)

    # Loading ---------------------------------------------------------------------------------------------

    def _load(self, cursor, table: str, page: _Page) -> None:
        columns = ", ".join(COLUMNS)
        if self.postgres:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for chunk in page.text if page.text is not None else _copy_text(page.rows, self.stamp):
                    copy.write(chunk)
            return
        adapt = connection.ops.adapt_datetimefield_value
        starts: dict[datetime, str] = {}
        stamp = adapt(self.stamp)
        prepared = []
        for row in page.rows:
            start = starts.get(row[1])
            if start is None:
                start = starts[row[1]] = adapt(row[1])
            prepared.append((row[0], start, *row[2:-1], stamp))
        marks = ", ".join(["%s"] * len(COLUMNS))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", prepared)  # noqa: S608

    def write(self, page: _Page) -> set[date]:
        """Store one page; return the UTC days whose buckets changed."""
        if not page.rows:
            return set()
        self.keys_seen |= page.keys
        starts = page.starts
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            if self.postgres:
                # Usage can always be pulled again (a lost page is redone by the next sync), so a page's commit
                # need not wait for the WAL flush.
                cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(
                f"SELECT 1 FROM {BUCKET_TABLE} "  # noqa: S608 - table and column names are ours, values are params
                "WHERE account_id = %s AND bucket_start >= %s AND bucket_start <= %s LIMIT 1",
                [self.account_id, adapt(min(starts)), adapt(max(starts))],
            )
            if cursor.fetchone() is None:
                # Nothing stored in this page's time range yet: no row can conflict, so skip the merge.
                self._load(cursor, BUCKET_TABLE, page)
                return {start.astimezone(UTC).date() for start in starts}
            cursor.execute("DELETE FROM usage_stage")
            self._load(cursor, "usage_stage", page)
            return self._merge(cursor, [self.account_id, adapt(min(starts)), adapt(max(starts))])

    def _merge(self, cursor, page_range: list) -> set[date]:
        columns = ", ".join(COLUMNS)
        conflict = ", ".join(("account_id", *IDENTITY))
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*VALUES, "synced_at"))
        changed = " OR ".join(f"{BUCKET_TABLE}.{c} {self.distinct} excluded.{c}" for c in VALUES)
        # Rows already stored with the same numbers are filtered out by an anti-join before the upsert: checking
        # them through ON CONFLICT costs a locked index probe each, and a re-pull is mostly such rows. (The WHERE
        # also keeps SQLite from reading ON CONFLICT as a join clause of the SELECT.)
        same = " AND ".join(
            [f"b.{c} = s.{c}" for c in ("account_id", *IDENTITY)] + [f"b.{c} {self.same} s.{c}" for c in VALUES]
        )
        # The page's time range, as constants, limits the anti-join to the stored rows of that range.
        upsert = (
            f"INSERT INTO {BUCKET_TABLE} ({columns}) SELECT {columns} FROM usage_stage s "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT 1 FROM {BUCKET_TABLE} b WHERE {same} "
            "AND b.account_id = %s AND b.bucket_start >= %s AND b.bucket_start <= %s) "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates} WHERE {changed} RETURNING bucket_start"
        )
        if self.postgres:
            # A hash anti-join: linear in the page and its time range. Right after a bulk load the planner may
            # believe the table is empty and pick a nested loop that compares every staged row with every stored
            # row of the range (quadratic), so nested loops are off for this statement.
            cursor.execute("SET LOCAL enable_nestloop = off")
            cursor.execute(f"WITH changed AS ({upsert}) SELECT DISTINCT bucket_start FROM changed", page_range)  # noqa: S608
        else:
            cursor.execute(upsert, page_range)
        days = {_day_of(start) for (start,) in cursor.fetchall()}
        identity = ", ".join(IDENTITY)
        cursor.execute(f"INSERT INTO usage_seen ({identity}) SELECT {identity} FROM usage_stage")  # noqa: S608
        return days

    def delete_unseen(self, *, start: datetime, end: datetime, only_keys: set[str] | None) -> set[date]:
        """Delete rows of [start, end) that existed before this run and were not pulled again."""
        if only_keys is not None and not only_keys:
            return set()
        adapt = connection.ops.adapt_datetimefield_value
        params: list = [self.account_id, adapt(start), adapt(end), self.watermark]
        key_filter = ""
        if only_keys is not None:
            key_filter = f"AND provider_key_id IN ({', '.join(['%s'] * len(only_keys))})"
            params += sorted(only_keys)
        match = " AND ".join(f"s.{c} = {BUCKET_TABLE}.{c}" for c in IDENTITY)
        delete = (
            f"DELETE FROM {BUCKET_TABLE} "  # noqa: S608
            f"WHERE account_id = %s AND bucket_start >= %s AND bucket_start < %s AND id <= %s {key_filter} "
            f"AND NOT EXISTS (SELECT 1 FROM usage_seen s WHERE {match}) RETURNING bucket_start"
        )
        with connection.cursor() as cursor:
            if self.postgres:
                # Right after a bulk load the planner thinks the window holds a handful of rows and picks a nested
                # loop over "seen" (quadratic); a hash anti-join is right at every size.
                cursor.execute("SET LOCAL default_statistics_target = 10")
                cursor.execute("ANALYZE usage_seen")
                cursor.execute("SET LOCAL enable_nestloop = off")
                cursor.execute(f"WITH gone AS ({delete}) SELECT DISTINCT bucket_start FROM gone", params)  # noqa: S608
            else:
                cursor.execute(delete, params)
            return {_day_of(start) for (start,) in cursor.fetchall()}


# --- reconciliation with billed cost ---------------------------------------------------------------------


def _reconcile(*, account: ProviderAccount, adapter: Provider, start: datetime, end: datetime) -> set[date]:
    """Store the provider's billed cost per day × grain and scale our estimates in each grain to it.

    A grain is the cost report's grouping (OpenAI: project [× key]; Anthropic: workspace), matched to buckets
    by their dimension string. Scaled rows get cost source "reconciled"; rounding leftovers go to the row
    with the largest estimate, so a grain's rows add up to the bill to the micro-dollar. Billed cost with no
    estimate to scale (no usage, or only unknown models) lands on an unattributed residual row, so totals
    still match the bill. Returns the days whose bucket costs changed.
    """
    billed: dict[tuple[date, str, str], Decimal] = {}
    for page in adapter.pull_cost(start=start, end=end):
        for cost in page:
            grain = _grain(cost)
            billed[grain] = billed.get(grain, ZERO) + cost.amount_usd
    billed = {grain: money(amount) for grain, amount in billed.items()}

    rows_by_grain: dict[tuple[date, str, str], list[list]] = {}
    keyed = {(day, dims) for day, dims, key in billed if key}
    for first, after in _day_ranges(day for day, _, _ in billed):
        buckets = (
            UsageBucket.objects.filter(
                account=account,
                bucket_start__gte=datetime.combine(first, time.min, tzinfo=UTC),
                bucket_start__lt=datetime.combine(after, time.min, tzinfo=UTC),
                dims__in={dims for _, dims, _ in billed},
            )
            .exclude(cost_source=UsageBucket.CostSource.PROVIDER)
            .values_list(
                "pk", "bucket_start", "dims", "provider_key_id", "estimated_cost_usd", "cost_usd", "cost_source"
            )
        )
        for pk, bucket_start, dims, provider_key_id, estimate, cost, source in buckets.iterator(chunk_size=5000):
            day = bucket_start.astimezone(UTC).date()
            grain = (day, dims, provider_key_id if (day, dims) in keyed else "")
            if grain in billed:
                rows_by_grain.setdefault(grain, []).append([pk, estimate, cost, source])

    changed_days: set[date] = set()
    updates: list[UsageBucket] = []
    residuals: list[UsageBucket] = []
    records: list[BilledCost] = []
    now = timezone.now()
    for grain, amount in billed.items():
        day, dims, provider_key_id = grain
        rows = rows_by_grain.get(grain, [])
        estimate = sum((row[1] for row in rows), ZERO)
        records.append(
            BilledCost(
                account=account,
                day=day,
                dims=_billed_dims(dims, provider_key_id),
                billed_usd=amount,
                estimated_usd=estimate,
                synced_at=now,
            )
        )
        if estimate > 0:
            scaled = [money(row[1] * amount / estimate) for row in rows]
            largest = max(range(len(rows)), key=lambda i: rows[i][1])
            scaled[largest] += amount - sum(scaled, ZERO)
            for row, cost in zip(rows, scaled, strict=True):
                if row[2] != cost or row[3] != UsageBucket.CostSource.RECONCILED:
                    updates.append(UsageBucket(pk=row[0], cost_usd=cost, cost_source=UsageBucket.CostSource.RECONCILED))
                    changed_days.add(day)
        elif amount:
            residuals.append(
                UsageBucket(
                    account=account,
                    provider_key_id=provider_key_id,
                    model=RESIDUAL_MODEL,
                    bucket_start=datetime.combine(day, time.min, tzinfo=UTC),
                    bucket_width="1d",
                    dims=dims,
                    requests=None,
                    estimated_cost_usd=ZERO,
                    cost_usd=amount,
                    cost_source=UsageBucket.CostSource.PROVIDER,
                    synced_at=now,
                )
            )
            changed_days.add(day)

    with transaction.atomic():
        UsageBucket.objects.bulk_update(updates, ["cost_usd", "cost_source"], batch_size=500)
        UsageBucket.objects.bulk_create(
            residuals,
            update_conflicts=True,
            unique_fields=["account", *IDENTITY],
            update_fields=["cost_usd", "estimated_cost_usd", "cost_source", "synced_at"],
        )
        BilledCost.objects.bulk_create(
            records,
            update_conflicts=True,
            unique_fields=["account", "day", "dims"],
            update_fields=["billed_usd", "estimated_usd", "synced_at"],
        )
        kept = {(r.day, r.dims) for r in records}
        stale = [
            pk
            for pk, day, dims in BilledCost.objects.filter(
                account=account, day__gte=start.date(), day__lte=end.date()
            ).values_list("pk", "day", "dims")
            if (day, dims) not in kept
        ]
        BilledCost.objects.filter(pk__in=stale).delete()
    return changed_days


def _grain(cost: CostRow) -> tuple[date, str, str]:
    return cost.day_start.astimezone(UTC).date(), dims_text(cost.dimensions), cost.provider_key_id or ""


def _billed_dims(dims: str, provider_key_id: str) -> str:
    return "&".join(part for part in (f"api_key_id={provider_key_id}" if provider_key_id else "", dims) if part)


# --- rollups --------------------------------------------------------------------------------------------


def _day_ranges(days: Iterable[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days as [first, after_last) ranges."""
    ordered = sorted(set(days))
    while ordered:
        first = last = ordered.pop(0)
        while ordered and ordered[0] == last + DAY:
            last = ordered.pop(0)
        yield first, last + DAY


def rollups_recompute(*, account: ProviderAccount, days: Iterable[date]) -> None:
    """Rebuild DailyRollup for `account` on `days` from its buckets: per run of consecutive days, one DELETE
    and one INSERT … SELECT grouped by day, key (with its owner, team and cost center), and model.

    Requests are summed as NULL when the provider reports none (Anthropic), never as 0.
    """
    ranges = list(_day_ranges(days))
    if not ranges:
        return
    postgres = connection.vendor == "postgresql"
    day = "(bucket_start AT TIME ZONE 'UTC')::date" if postgres else "date(bucket_start)"
    key_table, team_table = Key._meta.db_table, Team._meta.db_table
    sums = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "requests", "cost_usd")
    # Aggregate the buckets first (narrow rows), then attach owner, team and cost center to the few results.
    insert = (
        f"INSERT INTO {ROLLUP_TABLE} (day, account_id, provider, key_id, owner_user_id, owner_project_id, "  # noqa: S608
        f"team_id, cost_center_id, model, {', '.join(sums)}) "
        f"SELECT a.day, a.account_id, %s, a.key_id, k.owner_user_id, k.owner_project_id, k.team_id, "
        f"t.cost_center_id, a.model, {', '.join(f'a.{c}' for c in sums)} "
        f"FROM (SELECT {day} AS day, account_id, key_id, model, {', '.join(f'SUM({c}) AS {c}' for c in sums)} "
        f"FROM {BUCKET_TABLE} WHERE account_id = %s AND bucket_start >= %s AND bucket_start < %s "
        f"GROUP BY {day}, account_id, key_id, model) a "
        f"LEFT JOIN {key_table} k ON k.id = a.key_id LEFT JOIN {team_table} t ON t.id = k.team_id"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            # Room to aggregate in memory: a back-fill rolls up millions of buckets at once. Rollups are derived
            # (recomputable from buckets), so their commit need not wait for the WAL flush either.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL synchronous_commit = off")
            # Right after a big load the planner still thinks the window is a few rows and sorts to group them;
            # hashing is cheaper at every size (and spills to disk if it must).
            cursor.execute("SET LOCAL enable_sort = off")
        for first, after in ranges:
            DailyRollup.objects.filter(account=account, day__gte=first, day__lt=after).delete()
            start = datetime.combine(first, time.min, tzinfo=UTC)
            stop = datetime.combine(after, time.min, tzinfo=UTC)
            cursor.execute(insert, [account.kind, account.pk, adapt(start), adapt(stop)])


# --- re-pricing ---------------------------------------------------------------------------------------------


def usage_reprice(*, provider: str, model: str) -> int:
    """Price again the buckets of `model` from this and last quarter (after a manual price was set or changed).

    Only rows priced by us (price table, manual, unknown) change; provider-reported and reconciled costs come
    from the bill and stay. Simulated accounts count too when `provider` is the model's real provider.
    Returns the number of buckets whose cost changed; their days are rolled up again.
    """
    kinds = {provider} | ({"simulated"} if provider in ("openai", "anthropic", "openrouter") else set())
    start = Quarter.current().previous().start_at
    ours = (UsageBucket.CostSource.PRICE_TABLE, UsageBucket.CostSource.MANUAL, UsageBucket.CostSource.UNKNOWN)
    changed = 0
    for account in ProviderAccount.objects.filter(kind__in=kinds):
        pricer = Pricer(provider=account.kind)
        updates: list[UsageBucket] = []
        days: set[date] = set()
        rows = UsageBucket.objects.filter(
            account=account, bucket_start__gte=start, model=model, cost_source__in=ours
        ).only(
            "pk", "bucket_start", "bucket_width", "model", "input_tokens", "cached_input_tokens",
            "cache_write_tokens", "output_tokens", "cost_usd", "cost_source",
        )  # fmt: skip
        for bucket in rows.iterator(chunk_size=2000):
            estimate, cost, source = pricer.price(
                UsageRow(
                    bucket_start=bucket.bucket_start,
                    bucket_width=bucket.bucket_width,
                    provider_key_id=None,
                    model=bucket.model,
                    input_tokens=bucket.input_tokens,
                    cached_input_tokens=bucket.cached_input_tokens,
                    cache_write_tokens=bucket.cache_write_tokens,
                    output_tokens=bucket.output_tokens,
                )
            )
            if cost != bucket.cost_usd or source != bucket.cost_source:
                bucket.estimated_cost_usd, bucket.cost_usd, bucket.cost_source = estimate, cost, source
                updates.append(bucket)
                days.add(bucket.bucket_start.astimezone(UTC).date())
        with transaction.atomic():
            UsageBucket.objects.bulk_update(updates, ["estimated_cost_usd", "cost_usd", "cost_source"], batch_size=500)
            rollups_recompute(account=account, days=days)
        changed += len(updates)
    return changed


# --- retention --------------------------------------------------------------------------------------------


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
