"""`manage.py bench pages --usage-rows N --json`: how fast the pages answer with a year of a company's usage.

It fills the configured database (budgets/bench_fill.py: 2,000 people, 5,000 keys, 60 models, N hourly buckets
over a year, rolled up and summarised by the real code), times every registered page through the test client
(warm-up requests, then `--requests` timed ones: p50 and p95) and counts its queries; then it replaces the usage
with `--small-rows` buckets (10,000) and measures again. The last stdout line is

    {"bench": "pages", "usage_rows": N, "pages": {NAME: {"p50_ms", "p95_ms", "queries", "p95_ms_small",
     "queries_small"}}, ...}

Pages register with `register_page(name, role, url)`: `role` names the person of the bench organisation who
opens it (engineer, manager, finance, admin), `url` builds its address from the organisation. A page whose URL
name does not resolve (not built yet) is listed under "skipped". The bench deletes what it made unless --keep;
--reuse measures the organisation a --keep run left, refilling usage only if its size differs.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import NoReverseMatch, reverse

from allocator.coding.bench_fill import coding_fill
from allocator.coding.models import CodingIdentity
from allocator.management.commands.bench import _bench_models, _log, register
from allocator.models import UsageBucket
from budgets.bench_fill import TAG, BenchOrg, Scale, bench_org, org_create, org_delete, usage_fill


@dataclass
class Page:
    name: str
    role: str
    url: Callable[[BenchOrg], str]


PAGES: dict[str, Page] = {}


def register_page(name: str, role: str, url: Callable[[BenchOrg], str]) -> None:
    """Add a page to `bench pages`: who opens it (an attribute of BenchOrg) and how to build its URL."""
    PAGES[name] = Page(name, role, url)


register_page("engineer_home", "engineer", lambda org: reverse("home"))
register_page("manager_home", "manager", lambda org: reverse("home"))
register_page("finance_home", "finance", lambda org: reverse("home"))
register_page("finance_overview", "finance", lambda org: reverse("budgets:overview"))
register_page("manager_overview", "manager", lambda org: reverse("budgets:overview"))
register_page("team", "manager", lambda org: reverse("budgets:team", args=[org.team.pk]))
register_page("burndown", "manager", lambda org: reverse("budgets:detail", args=[org.team_budget.pk]))
register_page("person_budget", "engineer", lambda org: reverse("budgets:detail", args=[org.person_budget.pk]))
register_page("bump", "manager", lambda org: reverse("budgets:bump_detail", args=[org.bump.pk]))
register_page("approvals", "finance", lambda org: reverse("allocator:approvals"))
register_page("manager_approvals", "manager", lambda org: reverse("allocator:approvals"))
register_page("sync_status", "finance", lambda org: reverse("allocator:sync_status"))
register_page("key_usage", "engineer", lambda org: reverse("allocator:key_detail", args=[org.key.pk]))
register_page("person", "manager", lambda org: reverse("budgets:person", args=[org.engineer.pk]))
register_page("leaderboard", "finance", lambda org: reverse("budgets:leaderboard"))
register_page("efficiency", "finance", lambda org: reverse("budgets:efficiency"))
register_page("adoption", "manager", lambda org: reverse("budgets:adoption"))
# The People board with its coding-tool table, and the identities page (coding data from allocator/coding/bench_fill)
register_page("manager_people_board", "manager",
              lambda org: reverse("budgets:leaderboard") + f"?team={org.team.pk}&tab=people")  # fmt: skip
register_page("coding_identities", "admin", lambda org: reverse("allocator:coding_identities"))
register_page("concentration", "finance", lambda org: reverse("budgets:concentration"))
register_page("what_if", "finance", lambda org: reverse("budgets:what_if") + "?cache_percent=50&price_percent=10")
register_page("manager_what_if", "manager", lambda org: reverse("budgets:what_if") + "?cache_percent=50")


def _capacity_url(org: BenchOrg, *, detail: bool) -> str:
    """A capacity page's URL, after giving the bench account its limits and 90 days of peaks (once)."""
    from allocator.capacity.bench_fill import capacity_fill
    from allocator.capacity.models import RateLimitRecord

    first = RateLimitRecord.objects.filter(account=org.account).order_by("pk").first()
    first = first or capacity_fill(account=org.account, models=org.models)
    return reverse("capacity:detail", args=[first.pk]) if detail else reverse("capacity:headroom")


register_page("capacity", "manager", lambda org: _capacity_url(org, detail=False))
register_page("capacity_limit", "finance", lambda org: _capacity_url(org, detail=True))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _measure_page(page: Page, org: BenchOrg, *, requests: int, warmup: int) -> dict:
    try:
        url = page.url(org)
    except NoReverseMatch:
        return {"skipped": "no such page yet"}
    client = Client()
    client.force_login(getattr(org, page.role))
    count = 0
    for _ in range(max(1, warmup)):
        reset_queries()  # the log is bounded: a full one would count nothing
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        if response.status_code != 200:
            return {"skipped": f"answered {response.status_code}"}
        count = len(queries)  # the last warm-up's (the log is cleared at every request); timed ones log nothing
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(_percentile(times, 0.95), 1),
        "queries": count,
    }


def measure_pages(org: BenchOrg, *, requests: int, warmup: int = 2) -> dict[str, dict]:
    results = {}
    with override_settings(ALLOWED_HOSTS=["testserver"], DEBUG=False):
        for page in PAGES.values():
            results[page.name] = _measure_page(page, org, requests=requests, warmup=warmup)
            _log(f"  {page.name}: {results[page.name]}")
    return results


def _organisation(*, reuse: bool, scale: Scale) -> tuple[BenchOrg, float]:
    models = _bench_models()[: scale.models]
    org = bench_org(models=models)
    if org is not None and reuse:
        return org, 0.0
    org_delete()  # a previous run's organisation, or what a failed one left
    started = time.perf_counter()
    _log(f"organisation: {scale.people} people, {scale.keys} keys…")
    return org_create(scale=scale, models=models), time.perf_counter() - started


def _fill(org: BenchOrg, rows: int, *, reuse: bool) -> dict:
    if reuse and UsageBucket.objects.filter(account=org.account).count() == rows:
        return {"buckets": rows, "fill_seconds": 0.0, "reused": True}
    _log(f"usage: {rows:,} hourly buckets over a year, rolled up and summarised…")
    started = time.perf_counter()
    filled = usage_fill(org, rows=rows)
    return {**filled, "fill_seconds": round(time.perf_counter() - started, 1)}


def _coding_fill(*, reuse: bool) -> dict:
    """This quarter's coding-tool use of every bench person (once a run: both usage sizes read the same)."""
    if reuse and CodingIdentity.objects.filter(account__name__startswith=f"{TAG} ").exists():
        return {"coding_reused": True}
    _log("coding tools: a day a week of this quarter for every person, this month's seats…")
    started = time.perf_counter()
    filled = coding_fill(tag=TAG)
    return {**filled, "coding_fill_seconds": round(time.perf_counter() - started, 1)}


def bench_pages(
    usage_rows: int = 10_000_000,
    small_rows: int = 10_000,
    requests: int = 20,
    warmup: int = 2,
    people: int = 2000,
    keys: int = 5000,
    keep: bool = False,
    reuse: bool = False,
) -> dict:
    scale = Scale(people=people, keys=keys)
    org, org_seconds = _organisation(reuse=reuse, scale=scale)
    try:
        big_fill = _fill(org, usage_rows, reuse=reuse) | _coding_fill(reuse=reuse)
        _log(f"pages at {usage_rows:,} rows ({big_fill}):")
        big = measure_pages(org, requests=requests, warmup=warmup)
        small = {}
        if small_rows:
            _fill(org, small_rows, reuse=False)
            _log(f"pages at {small_rows:,} rows:")
            small = measure_pages(org, requests=requests, warmup=warmup)
    finally:
        if not keep:
            org_delete()
    pages, skipped = {}, {}
    for name, figures in big.items():
        if "skipped" in figures:
            skipped[name] = figures["skipped"]
            continue
        other = small.get(name, {})
        pages[name] = {**figures, "p95_ms_small": other.get("p95_ms"), "queries_small": other.get("queries")}
        pages[name]["met"] = page_met(pages[name])
    return {
        "bench": "pages",
        "usage_rows": usage_rows,
        "small_rows": small_rows,
        "rollups": big_fill.get("rollups"),
        "people": people,
        "keys": keys,
        "requests_per_page": requests,
        "warmup_requests": warmup,
        "organisation_seconds": round(org_seconds, 1),
        "fill_seconds": big_fill.get("fill_seconds"),
        "coding_fill_seconds": big_fill.get("coding_fill_seconds"),
        "skipped": skipped,
        "pages": pages,
        "not_met": sorted(name for name, figures in pages.items() if not figures["met"]),
    }


PAGES_TARGET = {"p95_ms_max": 100, "p95_vs_small_max": 1.5, "queries_equal_small": True}


def page_met(figures: dict) -> bool:
    """p95 at most 100 ms and at most 1.5 × the p95 at the small size, with the same number of queries."""
    small = figures.get("p95_ms_small")
    return (
        figures["p95_ms"] <= PAGES_TARGET["p95_ms_max"]
        and small is not None
        and figures["p95_ms"] <= PAGES_TARGET["p95_vs_small_max"] * small
        and figures["queries"] == figures.get("queries_small")
    )


register(
    "pages",
    bench_pages,
    target=PAGES_TARGET,
    met=lambda result: bool(result["pages"]) and not result["not_met"],
    help="Fill a year of usage for a company (N hourly buckets) and time every page, then again at 10,000 rows.",
    arguments=[
        (("--usage-rows",), {"type": int, "default": 10_000_000, "dest": "usage_rows"}),
        (("--small-rows",), {"type": int, "default": 10_000, "dest": "small_rows", "help": "0 skips it"}),
        (("--requests",), {"type": int, "default": 20, "help": "timed requests per page (after the warm-ups)"}),
        (("--warmup",), {"type": int, "default": 2, "help": "untimed requests per page first (at least 1)"}),
        (("--people",), {"type": int, "default": 2000}),
        (("--keys",), {"type": int, "default": 5000}),
        (("--keep",), {"action": "store_true", "help": "leave the organisation and its usage in the database"}),
        (("--reuse",), {"action": "store_true", "help": "measure what a --keep run left"}),
    ],
)
