"""Bucket writing: a sync's pages of usage rows become bucket rows (key resolved, priced) and are stored.

The same SQL on SQLite and PostgreSQL, only the bulk loader differs:

- A page whose time range holds no rows of the account yet (a first pull, a back-fill) goes straight into the
  table (PostgreSQL: COPY; SQLite: executemany).
- Any other page is loaded into a temporary staging table and merged with one
  `INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE <something changed>`, which rewrites only rows whose
  numbers changed (re-pulling an unchanged window writes nothing). The identities of merged rows go to a
  temporary "seen" table.
- At the end, rows of the window that existed before the run (id <= the run's id watermark) and are not in
  "seen" are deleted. That also retires OpenRouter's live "openrouter/today" row once the completed day
  arrives.

Pages are prepared (parsed, priced, formatted for COPY) ahead of the writer, in a producer process on PostgreSQL
(allocator.usage.prefetch), for adapters that do not read the database themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import attrgetter

from django.db import connection

from allocator.models import Key, ProviderAccount, UsageBucket
from allocator.providers.base import UsageRow
from allocator.usage.pricing import Pricer

logger = logging.getLogger(__name__)

BUCKET_TABLE = UsageBucket._meta.db_table
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


# --- rows -----------------------------------------------------------------------------------------------


def key_ids(account: ProviderAccount) -> dict[str, int]:
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


def bucket_rows(
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


# --- storage ------------------------------------------------------------------------------


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
class Page:
    """A page ready to store, built before the page's transaction opens (ahead, in the producer, where there is one):
    bucket tuples (None on PostgreSQL, where the COPY text stands for them and only it is sent from the producer),
    their number, time buckets and provider key ids, and the models the pricer has not known so far."""

    rows: list[tuple] | None
    count: int
    starts: set[datetime]
    keys: set[str]
    text: list[str] | None
    unknown_models: frozenset[str] = frozenset()

    @classmethod
    def of(cls, rows: list[tuple], *, stamp: datetime, copy_text: bool, unknown_models: Iterable[str] = ()) -> Page:
        return cls(
            rows=None if copy_text else rows,
            count=len(rows),
            starts={row[1] for row in rows},
            keys={row[3] for row in rows},
            text=list(_copy_text(rows, stamp)) if copy_text else None,
            unknown_models=frozenset(unknown_models),
        )


def _day_of(value: datetime | str) -> date:
    return date.fromisoformat(str(value)[:10])


@dataclass
class BucketWriter:
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

    def _load(self, cursor, table: str, page: Page) -> None:
        columns = ", ".join(COLUMNS)
        if self.postgres:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for chunk in page.text if page.text is not None else _copy_text(page.rows or [], self.stamp):
                    copy.write(chunk)
            return
        adapt = connection.ops.adapt_datetimefield_value
        starts: dict[datetime, str] = {}
        stamp = adapt(self.stamp)
        prepared = []
        for row in page.rows or []:
            start = starts.get(row[1])
            if start is None:
                start = starts[row[1]] = adapt(row[1])
            prepared.append((row[0], start, *row[2:-1], stamp))
        marks = ", ".join(["%s"] * len(COLUMNS))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", prepared)  # noqa: S608

    def write(self, page: Page) -> set[date]:
        """Store one page; return the UTC days whose buckets changed."""
        if not page.count:
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
