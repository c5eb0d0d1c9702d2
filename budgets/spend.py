"""Spend per scope: for a quarter, per day, per key. Every number comes from allocator.models.DailyRollup or from
the usage summaries built from it (allocator/usage/summaries.py) in the same transaction.

A rollup row (day × key × model) carries the owner (a person or a project), the team and the cost center the key
belonged to, so one grouped query gives the spend of every scope at once. A key's own allowance is a scope too
("key:<pk>"), enforced like a hard budget.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db.models import F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from allocator.models import DailyRollup, Key
from allocator.money import MONEY, ZERO, sum_money
from allocator.quarters import Quarter
from allocator.usage.summaries import daily_series, scope_totals
from budgets.models import Budget, Scope, scope_key

# A key's quarterly allowance (Key.limit_usd) is enforced as a scope of its own.
KEY_SCOPE = "key"

# The one scope → DailyRollup column map.
SCOPE_COLUMNS: dict[str, str] = {
    Scope.USER: "owner_user",
    Scope.PROJECT: "owner_project",
    Scope.TEAM: "team",
    Scope.COST_CENTER: "cost_center",
    KEY_SCOPE: "key",
}


def _in_quarter(quarter: Quarter) -> QuerySet[DailyRollup]:
    return DailyRollup.objects.filter(day__gte=quarter.start, day__lt=quarter.end)


def scope_spend(*, quarter: Quarter) -> dict[str, Decimal]:
    """Spend per scope key ("team:3", "user:7", "key:12", ...) in the quarter, for every scope at once (one query)."""
    rows = _in_quarter(quarter).values(*SCOPE_COLUMNS.values()).annotate(total=sum_money("cost_usd")).order_by()
    spend: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        for scope, column in SCOPE_COLUMNS.items():
            if row[column] is not None:
                spend[scope_key(scope, row[column])] += row["total"]
    return spend


def scope_ids(keys: Iterable[str]) -> dict[str, set[int]]:
    """Scope keys grouped by scope: ["team:3", "user:7", "team:4"] → {"team": {3, 4}, "user": {7}}."""
    grouped: dict[str, set[int]] = defaultdict(set)
    for key in keys:
        scope, _, pk = key.partition(":")
        if scope in SCOPE_COLUMNS and pk.isdigit():
            grouped[scope].add(int(pk))
    return grouped


def _per_scope(rows: QuerySet[DailyRollup], keys: Iterable[str], *fields: str) -> list[dict]:
    """`rows` summed per scope asked for (and per `fields`), one UNION ALL query of one indexed part per kind of
    scope: [{"scope": "team", "ref": 3, ..., "total": Decimal}]."""
    parts = [
        rows.filter(**{f"{SCOPE_COLUMNS[scope]}__in": sorted(ids)})
        .annotate(scope=Value(scope), ref=F(SCOPE_COLUMNS[scope]))
        .values("scope", "ref", *fields)
        .annotate(total=Sum("cost_usd"))
        .order_by()
        for scope, ids in sorted(scope_ids(keys).items())
    ]
    if not parts:
        return []
    return list(parts[0].union(*parts[1:], all=True)) if len(parts) > 1 else list(parts[0])


# Up to this many people, projects and keys a page reads their quarter from their own rollups (indexed); more
# (the finance overview) from the usage summary. Teams and cost centers always come from the summary.
OWN_ROLLUPS_BELOW = 100
_OWN_SCOPES = (Scope.USER, Scope.PROJECT, KEY_SCOPE)


def spend_of_scopes(*, quarter: Quarter, keys: Iterable[str]) -> dict[str, Decimal]:
    """Spend in the quarter of just these scope keys: a few people's, projects' or keys' from their rollups, the
    rest from the quarter's usage summary (refreshed with the rollups by every sync). One or two queries, whatever
    the number of scopes or rows; scopes with no spend are missing from the answer."""
    keys = set(keys)
    own = {key for key in keys if key.partition(":")[0] in _OWN_SCOPES}
    if len(own) >= OWN_ROLLUPS_BELOW:
        own = set()
    spend = {key: row["cost_usd"] for key, row in scope_totals(quarter=quarter, scope_keys=keys - own).items()}
    spend.update({scope_key(row["scope"], row["ref"]): row["total"] for row in _per_scope(_in_quarter(quarter), own)})
    return spend


# Daily cost of these scopes is summarised per day; people, projects and keys are read from their rollups.
_DAILY_SUMMARISED = (Scope.TEAM, Scope.COST_CENTER)


def daily_of_scopes(*, keys: Iterable[str], start: date, end: date) -> dict[str, dict[date, Decimal]]:
    """Spend per day in [start, end) of just these scope keys: the daily series charts and forecasts are drawn
    from. Teams and cost centers from the daily summary (one query each), people, projects and keys from their
    own rollups (one indexed query). Days without spend are missing."""
    keys = set(keys)
    grouped = scope_ids(keys)
    series: dict[str, dict[date, Decimal]] = {}
    for scope in _DAILY_SUMMARISED:
        if grouped.get(scope):
            found = daily_series(kind=scope, refs=sorted(grouped[scope]), start=start, end=end)
            series.update({scope_key(scope, int(ref)): days for ref, days in found.items()})
    rest = [key for key in keys if key.partition(":")[0] not in _DAILY_SUMMARISED]
    for row in _per_scope(DailyRollup.objects.filter(day__gte=start, day__lt=end), rest, "day"):
        series.setdefault(scope_key(row["scope"], row["ref"]), {})[row["day"]] = row["total"]
    return series


def daily_spend(*, budget: Budget, start: date, end: date) -> dict[date, Decimal]:
    """Spend per day of a budget's scope in [start, end) (one query), for charts."""
    return daily_of_scopes(keys=[budget.scope_key], start=start, end=end).get(budget.scope_key, {})


def spend_of_scope(*, scope: str, scope_id: int, quarter: Quarter) -> Decimal:
    """Spend of one scope in the quarter (one query)."""
    rows = _in_quarter(quarter).filter(**{SCOPE_COLUMNS[scope]: scope_id})
    return rows.aggregate(total=sum_money("cost_usd"))["total"]


def with_quarter_spend(keys: QuerySet[Key], *, quarter: Quarter | None = None) -> QuerySet[Key]:
    """Annotate each key with `spend_usd`, its spend in the quarter (default: the current one), in one subquery."""
    quarter = quarter or Quarter.current()
    spend = (
        _in_quarter(quarter).filter(key=OuterRef("pk")).values("key").annotate(total=Sum("cost_usd")).values("total")
    )
    return keys.annotate(spend_usd=Coalesce(Subquery(spend, output_field=MONEY), Value(ZERO), output_field=MONEY))


def lifetime_spend(key_ids: list[int]) -> dict[int, Decimal]:
    """All recorded spend per key: OpenRouter's cap counts the key's whole life, not the quarter (one query)."""
    if not key_ids:
        return {}
    rows = DailyRollup.objects.filter(key_id__in=key_ids).values("key").annotate(total=sum_money("cost_usd"))
    return {row["key"]: row["total"] for row in rows.order_by()}
