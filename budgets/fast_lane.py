"""The fast lane: keys near a hard cap are synced every minute and enforced at once.

A regular sync comes every SYNC_INTERVAL_MINUTES (15 by default), so a key that runs away between two syncs can
overspend for a whole interval. Beat runs `fast_lane_run` every minute: keys whose hard budget or allowance is past
BudgetPolicy.fast_lane_percent (80 % by default), and keys flagged as runaway in the last hour, have their account's
usage of today pulled again (hourly buckets on OpenAI and Anthropic, the keys' live usage on OpenRouter) and the
enforcement run follows at once, so an overspend is caught within about two minutes.

Bounded: each account's pull costs its adapter's `recent_usage_calls` provider calls, and one run spends at most
BudgetPolicy.fast_lane_calls_per_minute of them (accounts synced longest ago first; the rest wait for the next
minute). The calls go through the adapter's HTTP client, so they share its retries and Retry-After handling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from allocator.models import Key, ProviderAccount
from allocator.money import ZERO
from allocator.providers.base import ProviderError
from allocator.quarters import Quarter
from budgets.allowance import Allowance
from budgets.enforce import enforce_budgets
from budgets.models import Alert, Budget, BudgetPolicy, Scope, scope_key
from budgets.spend import KEY_SCOPE, scope_spend

RUNAWAY_WINDOW = timedelta(hours=1)
_KEY_FIELDS = (
    "pk",
    "name",
    "account_id",
    "owner_user_id",
    "owner_project_id",
    "team_id",
    "team__cost_center_id",
    "limit_usd",
)


@dataclass
class FastLaneReport:
    keys: int = 0
    synced: list[int] = field(default_factory=list)  # account ids
    deferred: list[int] = field(default_factory=list)  # over this minute's call budget
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    enforced: bool = False


def fast_lane_keys(*, now: datetime, policy: BudgetPolicy) -> dict[int, set[int]]:
    """Active keys in the fast lane, per account id (four queries whatever the number of keys)."""
    quarter = Quarter.containing(now)
    rows = list(Key.objects.filter(status=Key.Status.ACTIVE).values(*_KEY_FIELDS))
    if not rows:
        return {}
    limits = {b.scope_key: b.amount_usd for b in Budget.objects.filter(quarter=quarter.name, hard=True)}
    for row in rows:
        allowance = Allowance.from_row(row, quarter=quarter.name)
        if allowance is not None:
            limits[allowance.scope_key] = allowance.amount_usd
    spend = scope_spend(quarter=quarter)
    runaway = set(
        Alert.objects.filter(kind=Alert.Kind.RUNAWAY, key__isnull=False, created_at__gte=now - RUNAWAY_WINDOW)
        .values_list("key_id", flat=True)
        .distinct()
    )
    lanes: dict[int, set[int]] = {}
    for row in rows:
        owner = (Scope.USER, row["owner_user_id"]) if row["owner_user_id"] else (Scope.PROJECT, row["owner_project_id"])
        scopes = [
            scope_key(*owner),
            scope_key(Scope.TEAM, row["team_id"]),
            scope_key(Scope.COST_CENTER, row["team__cost_center_id"]),
            scope_key(KEY_SCOPE, row["pk"]),
        ]
        near = any(spend.get(s, ZERO) * 100 >= limits[s] * policy.fast_lane_percent for s in scopes if s in limits)
        if near or row["pk"] in runaway:
            lanes.setdefault(row["account_id"], set()).add(row["pk"])
    return lanes


def fast_lane_run(*, now: datetime | None = None) -> FastLaneReport:
    """Sync today's usage of every account with keys in the fast lane, within the call budget, then enforce."""
    from allocator.usage.sync import day_floor, usage_sync

    now = now or timezone.now()
    policy = BudgetPolicy.current()
    report = FastLaneReport()
    if not policy.fast_lane_percent:
        return report
    lanes = fast_lane_keys(now=now, policy=policy)
    report.keys = sum(len(keys) for keys in lanes.values())
    if not lanes:
        return report
    accounts = (
        ProviderAccount.objects.filter(pk__in=lanes, enabled=True)
        .exclude(status=ProviderAccount.Status.CREDENTIALS_INVALID)
        .order_by(F("last_sync_at").asc(nulls_first=True), "pk")  # never synced, then longest ago
    )
    budget = policy.fast_lane_calls_per_minute
    for account in accounts:
        if not account.capabilities.usage:
            continue
        cost = account.adapter().recent_usage_calls
        if cost > budget - report.calls:
            report.deferred.append(account.pk)
            continue
        report.calls += cost
        try:
            run = usage_sync(account=account, since=day_floor(now), trigger="fast_lane", enforce=False)
        except ProviderError as error:
            report.errors.append(f"{account}: {error}")
            continue
        if run is not None:
            report.synced.append(account.pk)
    if report.synced:
        enforce_budgets()
        report.enforced = True
    return report
