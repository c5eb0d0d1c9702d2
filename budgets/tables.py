"""Budget tables for the pages: one quarter's numbers of the scopes a page shows, table rows, and the finance,
split and bump rows built from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import CostCenter, Membership, Project, Team
from allocator.money import ZERO
from allocator.quarters import Quarter
from budgets import allocation as allocation_services
from budgets import charts
from budgets.bumps import bump_target
from budgets.forecast import Forecast, forecast
from budgets.models import Budget, BudgetRequest, Scope, scope_key
from budgets.projection import LOOKBACK_DAYS
from budgets.series_store import outlooks_snapshot, series_from, series_snapshot
from budgets.spend import KEY_SCOPE, daily_of_scopes, spend_of_scopes

# Past this many scopes a page reads their daily series from the snapshot the last enforcement run kept (one row)
# instead of their rollups; a page of one person or team reads its own few rollups.
SNAPSHOT_FROM = 100
_UNREAD = object()


class Numbers:
    """Spend and the daily series of one quarter, read only for the scopes a page shows: pass their keys (or
    `load` them before building rows). Each load is a fixed number of queries, whatever the number of scopes or
    of usage rows; a scope asked for without being loaded is loaded on its own."""

    def __init__(self, quarter: Quarter, keys: Iterable[str] = ()) -> None:
        self.quarter = quarter
        now = timezone.now()
        self.today = now.date()
        self.elapsed = (now.hour * 3600 + now.minute * 60 + now.second) / 86400  # of today (UTC), for its rest
        self.live = quarter.contains(self.today)
        self.spend: dict[str, Decimal] = {}
        self._series: dict[str, dict[date, Decimal]] = {}
        self._loaded: set[str] = set()
        self._snapshot: Any = _UNREAD
        self.load(keys)

    def load(self, keys: Iterable[str]) -> Numbers:
        new = set(keys) - self._loaded
        if not new:
            return self
        self._loaded |= new
        self.spend.update(spend_of_scopes(quarter=self.quarter, keys=new))
        # Forecasts of budget scopes only: a key's allowance has no run-out forecast.
        forecast_keys = [key for key in new if not key.startswith(f"{KEY_SCOPE}:")]
        if self.live and forecast_keys:
            self._series.update(self._read_series(forecast_keys))
        return self

    def _read_series(self, keys: list[str]) -> dict[str, dict[date, Decimal]]:
        if len(keys) >= SNAPSHOT_FROM:
            if self._snapshot is _UNREAD:
                self._snapshot = series_snapshot(today=self.today)  # as the last enforcement run read them
            if self._snapshot is not None:
                return series_from(self._snapshot, keys=keys, today=self.today)
        start = self.today - timedelta(days=LOOKBACK_DAYS)
        found = daily_of_scopes(keys=keys, start=start, end=self.today)
        return {key: found.get(key, {}) for key in keys}

    def series(self, key: str) -> dict[date, Decimal] | None:
        if not self.live:
            return None
        self.load([key])
        return self._series.get(key, {})

    def forecast(self, key: str, amount: Decimal | None) -> Forecast:
        self.load([key])
        return forecast(
            spend=self.spend.get(key, ZERO),
            amount=amount,
            series=self.series(key),
            today=self.today if self.live else self.quarter.last_day,
            quarter=self.quarter,
            elapsed=self.elapsed,
        )

    def last_days(self, n: int) -> list[date]:
        """The last `n` days of the quarter up to today, newest first."""
        end = min(self.today, self.quarter.last_day)
        return [d for d in (end - timedelta(days=i) for i in range(n)) if d >= self.quarter.start]


@dataclass
class Row:
    """One line of a budget table: a scope, its budget (if any) and its numbers."""

    scope: str
    obj: Any
    budget: Budget | None
    fc: Forecast
    level: int = 0
    allocated: Decimal | None = None

    @property
    def key(self) -> str:
        return scope_key(self.scope, self.obj.pk)

    @property
    def bar_percent(self) -> int:
        pct = self.fc.percent
        return 0 if pct is None else int(min(Decimal("100"), pct))

    @property
    def bar_class(self) -> str:
        pct = self.fc.percent or ZERO
        return "bad" if pct >= 100 else "warn" if pct >= 80 else ""

    @property
    def dom_id(self) -> str:
        return self.key.replace(":", "-")


def row_for(numbers: Numbers, scope: str, obj: Any, budget: Budget | None, **extra: Any) -> Row:
    return Row(scope, obj, budget, numbers.forecast(scope_key(scope, obj.pk), budget and budget.amount_usd), **extra)


def burndown(budget: Budget | None, numbers: Numbers, key: str, fc: Forecast, daily: dict) -> charts.Chart:
    return charts.burndown(
        quarter=numbers.quarter,
        amount=budget.amount_usd if budget else None,
        daily=daily,
        fc=fc,
        today=numbers.today if numbers.live else numbers.quarter.last_day,
    )


def finance_rows(quarter: Quarter, numbers: Numbers, *, team_ids: set[int] | None = None) -> list[Row]:
    """Cost centers (level 0) and their teams (level 1); only the given teams (and no cost centers) if team_ids."""
    budgets = {
        b.scope_key: b for b in Budget.objects.filter(quarter=quarter.name, scope__in=[Scope.COST_CENTER, Scope.TEAM])
    }
    split = allocation_services.split_totals(quarter=quarter)
    shown: list[tuple[str, Any, int]] = []
    for cc in CostCenter.objects.prefetch_related("teams").order_by("code"):
        teams = [t for t in cc.teams.all() if team_ids is None or t.pk in team_ids]
        if team_ids is not None and not teams:
            continue
        if team_ids is None:
            shown.append((Scope.COST_CENTER, cc, 0))
        shown.extend((Scope.TEAM, team, 1) for team in teams)
    numbers.load(scope_key(scope, obj.pk) for scope, obj, _ in shown)
    rows: list[Row] = []
    for scope, obj, level in shown:
        key = scope_key(scope, obj.pk)
        rows.append(row_for(numbers, scope, obj, budgets.get(key), level=level, allocated=split.get(key)))
    return rows


def slice_statuses(quarter: Quarter, numbers: Numbers, *, team_ids: set[int] | None = None) -> list[str]:
    """Forecast status (ok / warn / over) of the quarter's project and personal budgets (of the given teams only,
    if team_ids), to count what needs attention, however many there are. Today's enforcement run already
    projected every budget after the last sync: a budget whose amount and spend are still what that run saw takes
    its status from there (budgets.series_store outlooks); any other is projected here."""
    budgets = Budget.objects.filter(quarter=quarter.name, scope__in=[Scope.PROJECT, Scope.USER])
    if team_ids is not None:
        budgets = budgets.filter(team_id__in=team_ids)
    lines = [
        (scope_key(scope, project_id if scope == Scope.PROJECT else user_id), amount)
        for scope, project_id, user_id, amount in budgets.values_list("scope", "project_id", "user_id", "amount_usd")
    ]
    spend = spend_of_scopes(quarter=quarter, keys={key for key, _ in lines})
    outlooks = outlooks_snapshot(today=numbers.today) if numbers.live and lines else {}
    known: dict[str, str] = {}
    for key, amount in lines:
        seen = outlooks.get(key)
        if seen and Decimal(seen[0]) == amount and Decimal(seen[1]) == spend.get(key, ZERO):
            known[key] = seen[2]
    numbers.load(key for key, _ in lines if key not in known)  # one batch, however many changed since the run
    return [known.get(key) or numbers.forecast(key, amount).status for key, amount in lines]


def split_rows(team: Team, quarter: Quarter, numbers: Numbers) -> tuple[Budget | None, list[Row]]:
    """The team's budget and one row per active project and per member (the manager's split table)."""
    budgets = {b.scope_key: b for b in Budget.objects.filter(quarter=quarter.name, team=team)}
    team_budget = budgets.get(scope_key(Scope.TEAM, team.pk))
    projects = list(Project.objects.filter(team=team, is_active=True))
    members = list(Membership.objects.filter(team=team).select_related("user").order_by("-role", "user__full_name"))
    # A person's budget may be a slice of another of their teams: show it, but it is not this team's (one query
    # for every member without a budget here).
    elsewhere = {
        b.user_id: b
        for b in Budget.objects.filter(
            quarter=quarter.name,
            scope=Scope.USER,
            user_id__in=[m.user_id for m in members if scope_key(Scope.USER, m.user_id) not in budgets],
        ).order_by("-pk")
    }
    numbers.load(
        [scope_key(Scope.TEAM, team.pk)]
        + [scope_key(Scope.PROJECT, p.pk) for p in projects]
        + [scope_key(Scope.USER, m.user_id) for m in members]
    )
    rows: list[Row] = []
    for project in projects:
        rows.append(row_for(numbers, Scope.PROJECT, project, budgets.get(scope_key(Scope.PROJECT, project.pk))))
    for membership in members:
        b = budgets.get(scope_key(Scope.USER, membership.user_id)) or elsewhere.get(membership.user_id)
        rows.append(row_for(numbers, Scope.USER, membership.user, b))
        rows[-1].role = membership.get_role_display()
    return team_budget, rows


def with_bump_numbers(bumps: list[BudgetRequest]) -> dict[str, Numbers]:
    """Attach spend and forecast of each bump's budget (a fixed number of queries for all of them); the numbers
    read, per quarter name."""
    keys_by_quarter: dict[str, set[str]] = {}
    for bump in bumps:
        bump.target = target = bump_target(bump)  # the budget, or the key's allowance
        keys_by_quarter.setdefault(target.quarter, set()).add(target.scope_key)
    by_quarter = {name: Numbers(Quarter.parse(name), keys) for name, keys in keys_by_quarter.items()}
    for bump in bumps:
        target = bump.target
        quarter = Quarter.parse(target.quarter)
        numbers = by_quarter[quarter.name]
        bump.fc = numbers.forecast(target.scope_key, target.amount_usd)
        # What the budget would be with the bump (a pending one), or was without it (an approved one).
        other = target.amount_usd + (bump.amount_usd if bump.is_open else -bump.amount_usd)
        bump.fc_other = numbers.forecast(target.scope_key, other)
        bump.stale = quarter != Quarter.current()
    return by_quarter
