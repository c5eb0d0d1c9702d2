"""Usage summaries: the small pre-aggregates that boards, finance pages and charts read instead of rollups.

- `UsageSummary`: quarter totals per scope (person, project, team, cost center, key, model, provider, account,
  build/run, everything), split by the team and cost center the usage was recorded under; also the previous
  quarter "up to the same day" (`through`), for same-day comparisons.
- `DailySummary`: cost per day of the coarse scopes (teams, cost centers, providers, accounts, models, build/run per
  cost center, everything) for charts and organisation-wide forecasts.

Both are derived from DailyRollup and rebuilt set-based (one DELETE and one INSERT … SELECT per kind) inside the
rollup transaction of every sync (`summaries_refresh`), so they are never staler than the rollups they sum.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Project
from allocator.models import DailyRollup, DailySummary, UsageSummary
from allocator.money import ZERO
from allocator.quarters import Quarter
from allocator.usage.models import SummaryKind
from allocator.usage.pricing import model_tiers

ROLLUP = DailyRollup._meta.db_table
SUMMARY = UsageSummary._meta.db_table
DAILY = DailySummary._meta.db_table
PROJECT = Project._meta.db_table
TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
TOTALS = (*TOKENS, "requests", "cost_usd", "small_tier_cost_usd")

# A scope's rollup column, as text; class and org are expressions over the row.
_CLASS_REF = (
    "CASE WHEN r.key_id IS NULL AND r.owner_user_id IS NULL THEN 'unattributed' "
    f"WHEN p.kind = '{Project.Kind.RUN}' THEN 'run' ELSE 'build' END"
)
_REFS: dict[str, tuple[str, str | None]] = {  # kind -> (ref expression, column that must not be NULL)
    SummaryKind.USER: ("CAST(r.owner_user_id AS TEXT)", "r.owner_user_id"),
    SummaryKind.PROJECT: ("CAST(r.owner_project_id AS TEXT)", "r.owner_project_id"),
    SummaryKind.TEAM: ("CAST(r.team_id AS TEXT)", "r.team_id"),
    SummaryKind.COST_CENTER: ("CAST(r.cost_center_id AS TEXT)", "r.cost_center_id"),
    SummaryKind.KEY: ("CAST(r.key_id AS TEXT)", "r.key_id"),
    SummaryKind.MODEL: ("r.model", None),
    SummaryKind.PROVIDER: ("r.provider", None),
    SummaryKind.ACCOUNT: ("CAST(r.account_id AS TEXT)", None),
    SummaryKind.CLASS: (_CLASS_REF, None),
    SummaryKind.ORG: ("''", None),
}
# DailySummary kinds; class rows keep their cost center (build vs run per cost center).
DAILY_KINDS = (
    SummaryKind.TEAM,
    SummaryKind.COST_CENTER,
    SummaryKind.PROVIDER,
    SummaryKind.ACCOUNT,
    SummaryKind.MODEL,
    SummaryKind.CLASS,
    SummaryKind.ORG,
)
SCOPE_KINDS = {"user", "project", "team", "cost_center", "key"}  # the kinds a budget scope key ("team:3") names


# --- writing ----------------------------------------------------------------------------------------------------


def summaries_refresh(*, days: Iterable[date]) -> None:
    """Bring both summaries in line with the rollups of `days` (called where rollups change)."""
    days = sorted(set(days))
    if not days:
        return
    with transaction.atomic():
        _lock()
        for first, after in _runs(days):
            _daily_rebuild(first, after)
        quarters = {Quarter.containing(day) for day in days}
        for quarter in sorted(quarters, key=lambda q: q.start):
            _quarter_rebuild(quarter)
        _same_day_rebuild_if(quarters)


def summaries_rebuild(*, quarter: Quarter) -> None:
    """Rebuild both summaries for a whole quarter (commands, seeding, tests that write rollups directly)."""
    with transaction.atomic():
        _lock()
        _daily_rebuild(quarter.start, quarter.end)
        _quarter_rebuild(quarter)
        _same_day_rebuild_if({quarter})


def _lock() -> None:
    """One rebuild at a time on PostgreSQL (two syncs finishing together would otherwise both insert), and without
    JIT compilation for the rest of the transaction: PostgreSQL compiled each of the two dozen aggregate statements
    (about 0.4 s apiece, ten seconds a sync whatever the number of rows), far longer than running them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('allocator.usage_summaries'))")
            cursor.execute("SET LOCAL jit = off")


def _runs(days: list[date]) -> Iterable[tuple[date, date]]:
    from allocator.usage.rollups import day_ranges

    return day_ranges(days)


def _quarter_rebuild(quarter: Quarter) -> None:
    UsageSummary.objects.filter(quarter_start=quarter.start, through__isnull=True).delete()
    _insert_totals(quarter.start, None, quarter.start, quarter.end, _small_tier_pairs(quarter.start, quarter.end))


def _same_day_rebuild_if(quarters: set[Quarter]) -> None:
    """The previous quarter up to the same day as today, when the current quarter or the previous one changed."""
    current = Quarter.current()
    previous = current.previous()
    if not {current.start, previous.start} & {quarter.start for quarter in quarters}:
        return
    through = min(previous.start + (timezone.now().date() - current.start), previous.end)
    UsageSummary.objects.filter(quarter_start=previous.start, through__isnull=False).delete()
    _insert_totals(previous.start, through, previous.start, through, _small_tier_pairs(previous.start, through))


def _small_tier_pairs(start: date, end: date) -> set[str]:
    pairs = DailyRollup.objects.filter(day__gte=start, day__lt=end).values_list("provider", "model").distinct()
    tiers = model_tiers(pairs.order_by())
    return {f"{provider}|{model}" for (provider, model), tier in tiers.items() if tier == "small"}


def _insert_totals(quarter_start: date, through: date | None, start: date, end: date, small: set[str]) -> None:
    adapt = connection.ops.adapt_datefield_value
    small_case = (
        f"CASE WHEN r.provider || '|' || r.model IN ({', '.join(['%s'] * len(small))}) THEN r.cost_usd ELSE 0 END"
        if small
        else "0"
    )
    sums = ", ".join(f"SUM(r.{c})" for c in (*TOKENS, "requests", "cost_usd"))
    date_param = "CAST(%s AS DATE)" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        for kind, (ref, not_null) in _REFS.items():
            join = f"LEFT JOIN {PROJECT} p ON p.id = r.owner_project_id" if kind == SummaryKind.CLASS else ""
            where = f" AND {not_null} IS NOT NULL" if not_null else ""
            sql = (  # dates are typed on PostgreSQL (a NULL `through` has no type of its own)
                f"INSERT INTO {SUMMARY} (quarter_start, through, kind, ref, team_id, cost_center_id, "  # noqa: S608
                f"{', '.join((*TOKENS, 'requests', 'cost_usd'))}, small_tier_cost_usd, active_days, last_day) "
                f"SELECT {date_param}, {date_param}, %s, {ref}, r.team_id, r.cost_center_id, {sums}, "
                f"SUM({small_case}), "
                f"COUNT(DISTINCT r.day), MAX(r.day) FROM {ROLLUP} r {join} "
                f"WHERE r.day >= %s AND r.day < %s{where} GROUP BY {_group(kind, 'r.team_id, r.cost_center_id')}"
            )
            params = [adapt(quarter_start), adapt(through), kind, *sorted(small), adapt(start), adapt(end)]
            cursor.execute(sql, params)


def _daily_rebuild(first: date, after: date) -> None:
    DailySummary.objects.filter(day__gte=first, day__lt=after).delete()
    adapt = connection.ops.adapt_datefield_value
    with connection.cursor() as cursor:
        for kind in DAILY_KINDS:
            ref, _ = _REFS[kind]
            join = f"LEFT JOIN {PROJECT} p ON p.id = r.owner_project_id" if kind == SummaryKind.CLASS else ""
            cost_center = "r.cost_center_id" if kind == SummaryKind.CLASS else "NULL"
            where = " AND r.team_id IS NOT NULL" if kind == SummaryKind.TEAM else ""
            where += " AND r.cost_center_id IS NOT NULL" if kind == SummaryKind.COST_CENTER else ""
            group = _group(kind, "r.day, r.cost_center_id" if kind == SummaryKind.CLASS else "r.day")
            sql = (
                f"INSERT INTO {DAILY} (day, kind, ref, cost_center_id, input_tokens, cached_input_tokens, "  # noqa: S608
                f"output_tokens, requests, cost_usd, unattributed_cost_usd) "
                f"SELECT r.day, %s, {ref}, {cost_center}, SUM(r.input_tokens), SUM(r.cached_input_tokens), "
                f"SUM(r.output_tokens), SUM(r.requests), SUM(r.cost_usd), "
                f"SUM(CASE WHEN r.key_id IS NULL AND r.owner_user_id IS NULL THEN r.cost_usd ELSE 0 END) "
                f"FROM {ROLLUP} r {join} "
                f"WHERE r.day >= %s AND r.day < %s{where} GROUP BY {group}"
            )
            cursor.execute(sql, [kind, adapt(first), adapt(after)])


def _group(kind: str, columns: str) -> str:
    """GROUP BY the kind's ref and `columns` (PostgreSQL refuses a constant, the org's ref, in GROUP BY)."""
    return columns if kind == SummaryKind.ORG else f"{_REFS[kind][0]}, {columns}"


# --- reading ----------------------------------------------------------------------------------------------------


_SUMS = {**{column: Sum(column) for column in TOTALS}, "active_days": Max("active_days"), "last_day": Max("last_day")}


def _rows(*, quarter: Quarter, kind: str, through: date | None) -> QuerySet[UsageSummary]:
    rows = UsageSummary.objects.filter(quarter_start=quarter.start, kind=kind)
    return rows.filter(through=through) if through else rows.filter(through__isnull=True)


def usage_totals(
    *,
    quarter: Quarter,
    kind: str,
    team_id: int | None = None,
    cost_center_id: int | None = None,
    refs: Iterable[str] | None = None,
    through: date | None = None,
) -> list[dict[str, Any]]:
    """One dict per ref of `kind` in the quarter (summed over the team / cost center split), in one query.

    Keys: ref, the token columns, requests (None when never reported), cost_usd, small_tier_cost_usd, active_days
    (the most days of one split: a person who moved teams is not counted twice), last_day.
    """
    rows = _rows(quarter=quarter, kind=kind, through=through)
    if team_id is not None:
        rows = rows.filter(team_id=team_id)
    if cost_center_id is not None:
        rows = rows.filter(cost_center_id=cost_center_id)
    if refs is not None:
        rows = rows.filter(ref__in=[str(ref) for ref in refs])
    grouped = rows.values("ref").annotate(**_SUMS).order_by()
    return [_money_row(row) for row in grouped]


def _money_row(row: dict[str, Any]) -> dict[str, Any]:
    for column in ("cost_usd", "small_tier_cost_usd"):
        row[column] = Decimal(row[column] or 0).quantize(Decimal("0.000001"))
    for column in TOKENS:
        row[column] = int(row[column] or 0)
    return row


def scope_totals(*, quarter: Quarter, scope_keys: Iterable[str], through: date | None = None) -> dict[str, dict]:
    """Totals per budget scope key ("team:3", "user:7", "key:12", …) in one query; scopes with no usage are absent."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for scope_key in scope_keys:
        kind, _, ref = scope_key.partition(":")
        if kind in SCOPE_KINDS:
            wanted[kind].add(ref)
    if not wanted:
        return {}
    condition = Q()
    for kind, refs in wanted.items():
        condition |= Q(kind=kind, ref__in=sorted(refs))
    rows = UsageSummary.objects.filter(condition, quarter_start=quarter.start)
    rows = rows.filter(through=through) if through else rows.filter(through__isnull=True)
    grouped = rows.values("kind", "ref").annotate(**_SUMS).order_by()
    return {f"{row['kind']}:{row['ref']}": _money_row(row) for row in grouped}


def daily_series(
    *, kind: str, refs: Iterable[str] | None, start: date, end: date, cost_center_id: int | None = None
) -> dict[str, dict[date, Decimal]]:
    """Cost per day in [start, end) per ref of a DailySummary kind (all refs when `refs` is None), in one query.

    Class rows are summed over cost centers unless `cost_center_id` picks one. Days without usage are absent.
    """
    rows = DailySummary.objects.filter(kind=kind, day__gte=start, day__lt=end)
    if refs is not None:
        rows = rows.filter(ref__in=[str(ref) for ref in refs])
    if cost_center_id is not None:
        rows = rows.filter(cost_center_id=cost_center_id)
    series: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for row in rows.values("ref", "day").annotate(total=Sum("cost_usd")).order_by("day"):
        series[row["ref"]][row["day"]] = Decimal(row["total"] or ZERO).quantize(Decimal("0.000001"))
    return dict(series)
