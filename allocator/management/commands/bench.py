"""`manage.py bench <name> [options] [--json]`: benchmarks; with --json the last stdout line is one JSON object.

Benchmarks live in a registry, `BENCHES`, keyed by subcommand. This module registers `ingest`; any installed app
adds its own from a `benchmarks.py` module, which `bench` imports before parsing arguments. For example, in
`budgets/benchmarks.py`:

    from allocator.management.commands.bench import register

    def bench_enforce(keys: int = 5000) -> dict: ...

    register("enforce", bench_enforce, help="Time one enforcement run.",
             arguments=[(("--keys",), {"type": int, "default": 5000})])

The function is called with the parsed values of its declared arguments (by `dest`, e.g. `keys=5000`) and
returns a JSON-able dict; `bench` adds "bench" and "database" when missing and prints it.

`bench ingest --buckets N` measures the usage sync path end to end: N OpenAI-format usage results (5,000 keys,
60 models, hourly buckets) are served as real JSON pages to the real OpenAI adapter, which parses them, and
`usage_sync` prices, upserts and rolls them up in the configured database. Then the same pages are ingested
again (nothing changed: the merge writes nothing). On PostgreSQL the reference is a plain COPY of the same
stored rows into an empty copy of the bucket table (same columns, primary key and unique identity). The bench's
account, keys and rows are deleted afterwards (keep them with --keep).
"""

from __future__ import annotations

import importlib
import io
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from allocator.providers.base import decode_json

# --- the registry ---------------------------------------------------------------------------------------


@dataclass
class Bench:
    name: str
    function: Callable[..., dict]
    help: str = ""
    arguments: list[tuple[tuple, dict]] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)  # what the figures should reach, as printed
    met: Callable[[dict], bool] | None = None  # whether a result reaches `target`

    @property
    def dests(self) -> list[str]:
        return [kwargs.get("dest") or args[-1].lstrip("-").replace("-", "_") for args, kwargs in self.arguments]


BENCHES: dict[str, Bench] = {}
# `bench all` runs these, in this order, each at its own default scale unless told otherwise (--ingest-buckets …).
ALL = ("ingest", "pages", "export", "enforce")


def register(
    name: str,
    function: Callable[..., dict],
    *,
    help: str = "",
    arguments: list[tuple[tuple, dict]] | None = None,
    target: dict[str, Any] | None = None,
    met: Callable[[dict], bool] | None = None,
) -> Callable[..., dict]:
    """Add a `bench <name>` subcommand. `arguments` are (args, kwargs) pairs for argparse's add_argument; `target`
    and `met(result)` say what the figures should reach, and whether they did (both printed with the result)."""
    BENCHES[name] = Bench(name, function, help, list(arguments or []), dict(target or {}), met)
    return function


def discover() -> None:
    """Import `<app>.benchmarks` for every installed app, so apps can register their benchmarks."""
    for app in apps.get_app_configs():
        try:
            importlib.import_module(f"{app.name}.benchmarks")
        except ModuleNotFoundError as e:
            if e.name != f"{app.name}.benchmarks":
                raise


def run_bench(bench: Bench, options: dict[str, Any]) -> dict:
    """Run one bench with its parsed options; its result with the database, target, met and the load average
    (1-minute, before and after: on a shared machine every figure needs it beside it)."""
    before = _load_average()
    result = bench.function(**{name: options[name] for name in bench.dests})
    result = {"bench": bench.name, "database": connection.vendor, **result}
    if bench.met is not None:
        result["target"] = bench.target
        result["met"] = bool(bench.met(result))
    result["load_average"] = [before, _load_average()]
    return result


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not available on this platform
        return None


def bench_all(**options: Any) -> dict:
    """Every bench of ALL with the options given as --<bench>-<option> (each bench's defaults otherwise)."""
    result: dict[str, Any] = {"bench": "all"}
    for name in ALL:
        bench = BENCHES[name]
        _log(f"== bench {name}")
        result[name] = run_bench(bench, {dest: options[f"{name}_{dest}"] for dest in bench.dests})
        _log(f"== bench {name}: met {result[name].get('met')}")
    return result


def _all_arguments(parser) -> None:
    for name in ALL:
        bench = BENCHES[name]
        for (_args, kwargs), dest in zip(bench.arguments, bench.dests, strict=True):
            option = f"--{name}-{dest.replace('_', '-')}"
            parser.add_argument(option, **{**kwargs, "dest": f"{name}_{dest}"})


class Command(BaseCommand):
    help = "Run a benchmark: bench ingest --buckets N --json (others are registered by apps); bench all: all of them."

    def add_arguments(self, parser):
        discover()
        names = sorted([*BENCHES, "all"])
        sub = parser.add_subparsers(dest="bench", required=True, metavar="{" + ",".join(names) + "}")
        for bench in BENCHES.values():
            bench_parser = sub.add_parser(bench.name, help=bench.help, description=bench.help)
            bench_parser.add_argument(
                "--json", dest="as_json", action="store_true", help="Print one JSON object as the last line."
            )
            for args, kwargs in bench.arguments:
                bench_parser.add_argument(*args, **kwargs)
        all_help = f"Run {', '.join(ALL)} in turn (each at its documented default scale) and report them together."
        all_parser = sub.add_parser("all", help=all_help, description=all_help)
        all_parser.add_argument("--json", dest="as_json", action="store_true", help="Print one JSON object last.")
        _all_arguments(all_parser)

    def handle(self, *args, bench: str, as_json: bool = False, **options):
        if bench == "all":
            result = bench_all(**options)
        elif (chosen := BENCHES.get(bench)) is not None:
            result = run_bench(chosen, options)
        else:
            raise CommandError(f"Unknown benchmark {bench!r}; known: {', '.join(sorted(BENCHES))}.")
        if as_json:
            self.stdout.write(json.dumps(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key:>22}: {value}")


# --- bench ingest ---------------------------------------------------------------------------------------

KEYS = 5000
MODELS = 60
MODELS_PER_KEY = 2
HOURS_PER_PAGE = 6
UNKNOWN_MODEL = "bench-unknown-model"
BENCH_TAG = "bench-ingest"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _bench_models() -> list[str]:
    """59 OpenAI models genai-prices prices, plus one it does not know (priced at zero, flagged)."""
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    from allocator.usage.pricing import Pricer

    provider = find_provider_by_id(get_snapshot().providers, "openai")
    pricer = Pricer(provider="openai")
    names = [m.id for m in provider.models if m.id.replace("-", "").replace(".", "").isalnum()]
    known = [name for name in names if pricer.unit_price(name) is not None][: MODELS - 1]
    return [*known, UNKNOWN_MODEL]


class _GeneratedOpenAI:
    """Stands in for the adapter's HTTP client: serves pre-built JSON pages of the usage API, as bytes, decoded by the
    client's own decoder, so the adapter's decoding, paging and parsing run as they do against api.openai.com."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages
        self.empty = json.dumps({"object": "page", "data": [], "has_more": False, "next_page": None}).encode()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        params = dict(kwargs.get("params") or [])
        if path != "/organization/usage/completions":
            return decode_json(self.empty)  # embeddings and costs: nothing
        return decode_json(self.pages[int(params.get("page") or 0)])


def _generate(rows: int, models: list[str], first_hour: datetime, keys: int = KEYS) -> list[bytes]:
    """OpenAI usage pages (HOURS_PER_PAGE hourly buckets each) holding `rows` results in all."""
    rng = random.Random(42)
    combos = [(k, models[(k * 7 + j * 13) % len(models)]) for k in range(keys) for j in range(MODELS_PER_KEY)]
    per_hour = min(len(combos), rows)
    hours = math.ceil(rows / per_hour)
    pages: list[bytes] = []
    left = rows
    for page_start in range(0, hours, HOURS_PER_PAGE):
        buckets = []
        for hour in range(page_start, min(page_start + HOURS_PER_PAGE, hours)):
            start = int((first_hour + timedelta(hours=hour)).timestamp())
            results = []
            for key, model in combos[: min(per_hour, left)]:
                input_tokens = rng.randint(500, 60000)
                results.append(
                    {
                        "object": "organization.usage.completions.result",
                        "input_tokens": input_tokens,
                        "output_tokens": rng.randint(50, 6000),
                        "input_cached_tokens": input_tokens // 3 if key % 3 == 0 else 0,
                        "input_cache_write_tokens": 0,
                        "num_model_requests": rng.randint(1, 80),
                        "project_id": f"proj_{key % 50:03d}",
                        "user_id": None,
                        # One key in a hundred is unknown to Allocator: kept as unattributed.
                        "api_key_id": f"key_bench_{key:05d}" if key % 100 else f"key_unknown_{key:05d}",
                        "model": model,
                        "batch": None,
                        "service_tier": None,
                    }
                )
            left -= len(results)
            buckets.append({"object": "bucket", "start_time": start, "end_time": start + 3600, "results": results})
        last = page_start + HOURS_PER_PAGE >= hours
        body = {
            "object": "page",
            "data": buckets,
            "has_more": not last,
            "next_page": None if last else str(len(pages) + 1),
        }
        pages.append(json.dumps(body).encode())
    return pages


def _setup(keys: int = KEYS) -> tuple[Any, Any]:
    from accounts.models import CostCenter, Team, User
    from allocator.models import Key, ProviderAccount, ProviderKind, UsageBucket

    _cleanup()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            # Start from a table without the dead rows an earlier run's clean-up left behind.
            cursor.execute(f"VACUUM ANALYZE {UsageBucket._meta.db_table}")
    cc = CostCenter.objects.create(code=BENCH_TAG.upper(), name="Bench")
    team = Team.objects.create(cost_center=cc, name="Bench ingest", slug=BENCH_TAG)
    user = User.objects.create(email=f"{BENCH_TAG}@example.invalid", full_name="Bench")
    account = ProviderAccount.objects.create(
        name=BENCH_TAG, kind=ProviderKind.OPENAI, credential="bench", status=ProviderAccount.Status.OK
    )
    Key.objects.bulk_create(
        [
            Key(account=account, owner_user=user, team=team, name=f"bench {k}", provider_key_id=f"key_bench_{k:05d}")
            for k in range(keys)
            if k % 100
        ],
        batch_size=1000,
    )
    return account, team


def _cleanup() -> None:
    from accounts.models import CostCenter, Team, User
    from allocator.models import BilledCost, DailyRollup, Key, ProviderAccount, SyncRun, UsageBucket

    account = ProviderAccount.objects.filter(name=BENCH_TAG).first()
    with transaction.atomic():
        if account is not None:
            UsageBucket.objects.filter(account=account)._raw_delete(connection.alias)
            DailyRollup.objects.filter(account=account)._raw_delete(connection.alias)
            BilledCost.objects.filter(account=account).delete()
            SyncRun.objects.filter(account=account).delete()
            Key.objects.filter(account=account)._raw_delete(connection.alias)
            account.delete()
        User.objects.filter(email=f"{BENCH_TAG}@example.invalid").delete()
        Team.objects.filter(slug=BENCH_TAG).delete()
        CostCenter.objects.filter(code=BENCH_TAG.upper()).delete()


def _rollups_match(account) -> bool:
    """DailyRollup of the bench account equals a fresh aggregation of its buckets (exact, per day × key × model)."""
    from allocator.models import DailyRollup, UsageBucket

    fields = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "requests", "cost_usd")
    fresh = {
        (row["day"], row["key"], row["model"]): tuple(row[f] for f in fields)
        for row in UsageBucket.objects.filter(account=account)
        .annotate(day=TruncDate("bucket_start"))
        .values("day", "key", "model")
        .annotate(**{f: Sum(f) for f in fields})
        .order_by()
    }
    stored = {
        (row["day"], row["key"], row["model"]): tuple(row[f] for f in fields)
        for row in DailyRollup.objects.filter(account=account)
        .values("day", "key", "model")
        .annotate(**{f: Sum(f) for f in fields}, n=Count("id"))
        .order_by()
    }

    def normal(values: tuple) -> tuple:
        return tuple(Decimal(str(v)).quantize(Decimal("0.000001")) if v is not None else None for v in values)

    return fresh.keys() == stored.keys() and all(normal(fresh[k]) == normal(stored[k]) for k in fresh)


def _copy_reference(account) -> float | None:
    """Seconds to COPY the account's stored rows into an empty table with the bucket table's columns, primary
    key and unique identity (PostgreSQL only)."""
    from allocator.usage.writer import BUCKET_TABLE, COLUMNS

    if connection.vendor != "postgresql":
        return None
    columns = ", ".join(COLUMNS)
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            f"COPY (SELECT {columns} FROM {BUCKET_TABLE} WHERE account_id = {int(account.pk)}) TO STDOUT"  # noqa: S608
        ) as copy:
            for chunk in copy:
                buffer.write(chunk)
        data = buffer.getvalue()
        cursor.execute("DROP TABLE IF EXISTS bench_copy_reference")
        cursor.execute(
            f"CREATE TABLE bench_copy_reference (LIKE {BUCKET_TABLE} INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING CONSTRAINTS INCLUDING INDEXES)"
        )
        cursor.execute("CHECKPOINT")
        started = time.perf_counter()
        with transaction.atomic(), raw.copy(f"COPY bench_copy_reference ({columns}) FROM STDIN") as copy:
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset : offset + (1 << 20)])
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy_reference")
    return elapsed


def _timed_pass(label: str, *, pages: list, account: Any, since: datetime, until: datetime) -> tuple[float, Any]:
    """One usage_sync of the generated pages through the real OpenAI adapter; (seconds, run)."""
    from allocator.providers.openai import OpenAIProvider
    from allocator.usage.sync import usage_sync

    adapter = OpenAIProvider(base_url="bench://generated", credential="bench")
    adapter.http = _GeneratedOpenAI(pages)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")  # start each pass with no dirty buffers from the last one
    _log(f"{label}…")
    started = time.perf_counter()
    run = usage_sync(account=account, since=since, until=until, trigger="bench", provider=adapter, enforce=False)
    elapsed = time.perf_counter() - started
    _log(f"{label}: {elapsed:.2f} s, {run.rows:,} rows in {run.pages} pages")
    return elapsed, run


def bench_ingest(buckets: int = 1_000_000, keys: int = KEYS, keep: bool = False) -> dict:
    from allocator.models import DailyRollup, UsageBucket

    if buckets < 1:
        raise CommandError("--buckets must be at least 1")
    models = _bench_models()
    if keys < 1:
        raise CommandError("--keys must be at least 1")
    per_hour = min(keys * MODELS_PER_KEY, buckets)
    hours = math.ceil(buckets / per_hour)
    now = timezone.now()
    first_hour = (now - timedelta(hours=hours + 1)).replace(minute=0, second=0, microsecond=0)
    _log(f"generating {buckets:,} usage results ({hours} hourly buckets, {len(models)} models, {keys:,} keys)…")
    pages = _generate(buckets, models, first_hour, keys)
    account, _team = _setup(keys)
    until = first_hour + timedelta(hours=hours)

    try:
        first, run = _timed_pass("first pass", pages=pages, account=account, since=first_hour, until=until)
        again, _ = _timed_pass("re-ingest of the same pages", pages=pages, account=account, since=first_hour,
                               until=until)  # fmt: skip
        stored = UsageBucket.objects.filter(account=account).count()
        _log("checking rollups against a fresh aggregation…")
        match = _rollups_match(account)
        rollup_rows = DailyRollup.objects.filter(account=account).count()
        _log("reference COPY…" if connection.vendor == "postgresql" else "no COPY reference on this database")
        copy = _copy_reference(account)
    finally:
        if not keep:
            _cleanup()
    result: dict[str, Any] = {
        "rows": buckets,
        "stored_rows": stored,
        "keys": keys,
        "models": len(models),
        "pages": run.pages,
        "rollup_rows": rollup_rows,
        "unknown_models": run.unknown_models,
        "first_seconds": round(first, 3),
        "reingest_seconds": round(again, 3),
        "first_rows_per_s": round(buckets / first),
        "reingest_rows_per_s": round(buckets / again),
        "copy_seconds": round(copy, 3) if copy else None,
        "copy_rows_per_s": round(stored / copy) if copy else None,
        "ratio_vs_copy": round((buckets / first) / (stored / copy), 3) if copy else None,
        "reingest_time_ratio": round(again / first, 3),
        "rollups_match": match,
    }
    if copy is None:
        result["note"] = "copy_rows_per_s is null: the COPY reference needs PostgreSQL (set DATABASE_URL)."
    return result


INGEST_TARGET = {"ratio_vs_copy_min": 0.5, "reingest_time_ratio_max": 1.2}


def ingest_met(result: dict) -> bool:
    """First pass at least half a plain COPY's rows per second, re-ingest at most 1.2 × the first pass, rollups
    exact. Without a COPY reference (SQLite) the first part cannot be shown, so it is not met."""
    ratio = result.get("ratio_vs_copy")
    return (
        ratio is not None
        and ratio >= INGEST_TARGET["ratio_vs_copy_min"]
        and result["reingest_time_ratio"] <= INGEST_TARGET["reingest_time_ratio_max"]
        and result["rollups_match"]
    )


register(
    "ingest",
    bench_ingest,
    help="Usage ingestion: N provider-format rows through parse → price → upsert → rollup, twice, vs COPY.",
    target=INGEST_TARGET,
    met=ingest_met,
    arguments=[
        (("--buckets",), {"type": int, "default": 1_000_000, "help": "Usage rows to generate (default 1,000,000)."}),
        (("--keys",), {"type": int, "default": KEYS, "help": f"Keys the rows are spread over (default {KEYS:,})."}),
        (("--keep",), {"action": "store_true", "help": "Keep the bench account and its rows afterwards."}),
    ],
)
