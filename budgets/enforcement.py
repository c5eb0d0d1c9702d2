"""Spend, forecasts and enforcement: read DailyRollup/UsageBucket in a fixed number of queries, decide in Python.

Every number here comes from allocator.models.DailyRollup (per day × key × model, with the owner, team and cost
center the key belonged to), except runaway detection, which reads the hourly UsageBucket rows of the last day.

A key's spend counts against its owner (a person or a project), its team and the team's cost center. The
tightest of those scopes decides: a key is suspended when any of its hard budgets is spent, and an OpenRouter
key's provider-side cap is set from the smallest remaining amount.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import DecimalField, Min, Sum, Value
from django.db.models.functions import Coalesce, ExtractIsoWeekDay
from django.utils import timezone
from django.utils.formats import date_format

from allocator.models import DailyRollup, InvalidTransition, Key, Policy, UsageBucket
from allocator.providers import provider_class
from allocator.providers.base import ProviderError
from allocator.quarters import Quarter
from budgets.models import Alert, Budget, KeyEnforcement, Scope, scope_key, to_cents

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
MONEY = DecimalField(max_digits=18, decimal_places=6)
# Burn rate looks back this many days (four of each weekday).
LOOKBACK_DAYS = 28
FORECAST_METHOD = (
    "Projected quarter-end spend = spend so far + for every remaining day of the quarter, the average spend on "
    "that weekday over the last four weeks (or since the first spend, if later). Weekdays not seen yet use the "
    "overall daily average. The run-out date is the first day the running total reaches the budget."
)
_ROLLUP_SCOPES = (
    ("owner_user", Scope.USER),
    ("owner_project", Scope.PROJECT),
    ("team", Scope.TEAM),
    ("cost_center", Scope.COST_CENTER),
)


def _sum(field_name: str) -> Coalesce:
    return Coalesce(Sum(field_name), Value(ZERO), output_field=MONEY)


# --- Spend ------------------------------------------------------------------------------------------------


def scope_spend(*, quarter: Quarter) -> dict[str, Decimal]:
    """Spend per scope key ("team:3", "user:7", ...) in the quarter, for every scope at once (one query)."""
    rows = (
        DailyRollup.objects.filter(day__gte=quarter.start, day__lt=quarter.end)
        .values(*(column for column, _ in _ROLLUP_SCOPES))
        .annotate(total=_sum("cost_usd"))
        .order_by()
    )
    spend: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        for column, scope in _ROLLUP_SCOPES:
            if row[column] is not None:
                spend[scope_key(scope, row[column])] += row["total"]
    return spend


def daily_spend(*, budget: Budget, start: date, end: date) -> dict[date, Decimal]:
    """Spend per day of one scope in [start, end) (one query), for charts."""
    column = {Scope.USER: "owner_user", Scope.PROJECT: "owner_project", Scope.TEAM: "team"}.get(
        budget.scope, "cost_center"
    )
    rows = (
        DailyRollup.objects.filter(day__gte=start, day__lt=end, **{column: budget.scope_id})
        .values("day")
        .annotate(total=_sum("cost_usd"))
        .order_by("day")
    )
    return {row["day"]: row["total"] for row in rows}


# --- Forecast ---------------------------------------------------------------------------------------------


@dataclass
class BurnRate:
    """Average spend per ISO weekday (index 0 = Monday)."""

    per_weekday: list[Decimal]

    @property
    def daily(self) -> Decimal:
        return sum(self.per_weekday, ZERO) / 7

    def on(self, day: date) -> Decimal:
        return self.per_weekday[day.isoweekday() - 1]


NO_BURN = BurnRate([ZERO] * 7)


def burn_rates(*, today: date) -> dict[str, BurnRate]:
    """Weekday burn rate of every scope from the last four weeks before `today` (one query)."""
    start = today - timedelta(days=LOOKBACK_DAYS)
    rows = (
        DailyRollup.objects.filter(day__gte=start, day__lt=today)
        .values(*(column for column, _ in _ROLLUP_SCOPES), weekday=ExtractIsoWeekDay("day"))
        .annotate(total=_sum("cost_usd"), first=Min("day"))
        .order_by()
    )
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * 7)
    first_day: dict[str, date] = {}
    for row in rows:
        for column, scope in _ROLLUP_SCOPES:
            if row[column] is None:
                continue
            key = scope_key(scope, row[column])
            totals[key][row["weekday"] - 1] += row["total"]
            if key not in first_day or row["first"] < first_day[key]:
                first_day[key] = row["first"]
    return {key: _rate(weekday_totals, max(start, first_day[key]), today) for key, weekday_totals in totals.items()}


def _rate(weekday_totals: list[Decimal], start: date, end: date) -> BurnRate:
    seen = _weekday_counts(start, end)
    days = sum(seen)
    overall = sum(weekday_totals, ZERO) / days if days else ZERO
    return BurnRate([weekday_totals[i] / seen[i] if seen[i] else overall for i in range(7)])


def _weekday_counts(start: date, end: date) -> list[int]:
    """How many of each ISO weekday fall in [start, end)."""
    days = max(0, (end - start).days)
    weeks, rest = divmod(days, 7)
    counts = [weeks] * 7
    for offset in range(rest):
        counts[(start + timedelta(days=offset)).isoweekday() - 1] += 1
    return counts


@dataclass
class Forecast:
    spend: Decimal
    amount: Decimal | None
    projected: Decimal
    run_out: date | None  # first day the running total reaches the budget (today if already spent)
    daily_rate: Decimal

    @property
    def percent(self) -> Decimal | None:
        if self.amount is None:
            return None
        if not self.amount:
            return Decimal("100") if self.spend > 0 else ZERO
        return self.spend * 100 / self.amount

    @property
    def projected_percent(self) -> Decimal | None:
        if not self.amount:
            return None
        return self.projected * 100 / self.amount

    @property
    def remaining(self) -> Decimal | None:
        return None if self.amount is None else self.amount - self.spend

    @property
    def over_by(self) -> Decimal:
        return ZERO if self.amount is None else max(ZERO, self.spend - self.amount)

    @property
    def status(self) -> str:
        """ok / warn / over, for badges."""
        if self.amount is None:
            return "none"
        if self.spend >= self.amount:
            return "over"
        if self.run_out is not None:
            return "warn"
        return "ok"


def forecast(*, spend: Decimal, amount: Decimal | None, rate: BurnRate, today: date, quarter: Quarter) -> Forecast:
    """Project quarter-end spend and the run-out date (see FORECAST_METHOD). The rest of today is not counted."""
    first, end = today + timedelta(days=1), quarter.end
    counts = _weekday_counts(first, end) if first < end else [0] * 7
    projected = spend + sum((rate.per_weekday[i] * counts[i] for i in range(7)), ZERO)
    run_out = None
    if amount is not None:
        if spend >= amount:
            run_out = today
        elif projected >= amount:
            running, day = spend, first
            while day < end:
                running += rate.on(day)
                if running >= amount:
                    run_out = day
                    break
                day += timedelta(days=1)
    return Forecast(spend=spend, amount=amount, projected=projected, run_out=run_out, daily_rate=rate.daily)


# --- Enforcement ------------------------------------------------------------------------------------------


@dataclass
class EnforcementReport:
    quarter: str
    budgets: int = 0
    keys: int = 0
    alerts_created: int = 0
    suspended: list[int] = field(default_factory=list)
    reinstated: list[int] = field(default_factory=list)
    limits_set: list[int] = field(default_factory=list)
    runaway: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "quarter": self.quarter,
            "budgets": self.budgets,
            "keys": self.keys,
            "alerts_created": self.alerts_created,
            "suspended": len(self.suspended),
            "reinstated": len(self.reinstated),
            "limits_set": len(self.limits_set),
            "runaway": len(self.runaway),
            "errors": self.errors,
        }


def _money(value: Decimal) -> str:
    return f"${to_cents(value):,}"


def _day(value: date) -> str:
    return date_format(value, "j F")


def _budget_alert(budget: Budget, kind: str, threshold: int, message: str, quarter: Quarter) -> Alert:
    return Alert(
        kind=kind,
        scope=budget.scope,
        scope_key=budget.scope_key,
        quarter=quarter.name,
        threshold=threshold,
        dedupe=str(budget.amount_usd),
        budget=budget,
        cost_center_id=budget.cost_center_id,
        team_id=budget.team_id,
        project_id=budget.project_id,
        user_id=budget.user_id,
        message=message,
        url=budget.get_absolute_url(),
    )


class _KeyPlan:
    """What this run decided for one key (plain values, no queries)."""

    __slots__ = ("pk", "status", "kind", "caps", "scopes", "exhausted", "tightest_remaining")

    def __init__(self, row: dict, budgets_by_scope: dict[str, Budget], spend: dict[str, Decimal]) -> None:
        self.pk = row["pk"]
        self.status = row["status"]
        self.kind = row["account__kind"]
        self.caps = provider_class(self.kind).capabilities
        owner = (
            scope_key(Scope.USER, row["owner_user_id"])
            if row["owner_user_id"]
            else scope_key(Scope.PROJECT, row["owner_project_id"])
        )
        keys = [owner, scope_key(Scope.TEAM, row["team_id"]), scope_key(Scope.COST_CENTER, row["team__cost_center_id"])]
        self.scopes = [budgets_by_scope[k] for k in keys if k in budgets_by_scope]
        hard = [(b.amount_usd - spend.get(b.scope_key, ZERO), b) for b in self.scopes if b.hard]
        # Tightest first: the least remaining (most overspent) hard budget decides.
        hard.sort(key=lambda pair: pair[0])
        self.exhausted = [b for remaining, b in hard if remaining <= 0]
        self.tightest_remaining = hard[0][0] if hard else None


def enforce_budgets(*, now: datetime | None = None) -> EnforcementReport:
    """Compare spend with every budget of the current quarter and act. Safe to run twice, concurrently.

    - Thresholds (policy, default 50/80/100 %): one alert per crossing, guaranteed by Alert's unique constraint
      (rows are inserted with ON CONFLICT DO NOTHING, so a racing run cannot duplicate them).
    - Hard budget at 100 %: the keys it covers are suspended through allocator.keys.key_suspend; keys this
      code suspended come back (key_reinstate) when none of their hard budgets is spent any more (a bump, a
      raised budget, a new quarter).
    - OpenRouter keys get a provider-side cap, so the budget holds between syncs.
    - Forecast alerts, and runaway detection from the last day of hourly usage buckets.

    The number of queries does not depend on the number of keys, budgets or scopes; only keys whose state
    changes cost queries of their own (the provider call and its audit trail).
    """
    from allocator.keys import key_reinstate, key_suspend

    now = now or timezone.now()
    today = now.date()
    quarter = Quarter.containing(now)
    policy = Policy.current()
    report = EnforcementReport(quarter=quarter.name)

    budgets = list(Budget.objects.filter(quarter=quarter.name).select_related("cost_center", "team", "project", "user"))
    budgets_by_scope = {b.scope_key: b for b in budgets}
    spend = scope_spend(quarter=quarter)
    rates = burn_rates(today=today)
    report.budgets = len(budgets)

    key_rows = list(
        Key.objects.filter(status__in=[Key.Status.ACTIVE, Key.Status.SUSPENDED]).values(
            "pk",
            "status",
            "owner_user_id",
            "owner_project_id",
            "team_id",
            "team__cost_center_id",
            "account__kind",
            "account_id",
        )
    )
    report.keys = len(key_rows)
    states = {e.key_id: e for e in KeyEnforcement.objects.all()}
    plans = [_KeyPlan(row, budgets_by_scope, spend) for row in key_rows]

    # Keys to change. Decided from plain values first; provider calls come after.
    to_suspend = [p for p in plans if p.status == Key.Status.ACTIVE and p.exhausted]
    to_reinstate = [
        p
        for p in plans
        if p.status == Key.Status.SUSPENDED
        and not p.exhausted
        and states.get(p.pk) is not None
        and states[p.pk].suspended_by == KeyEnforcement.SuspendedBy.BUDGET
    ]
    reinstating = {p.pk for p in to_reinstate}
    capped = [
        p
        for p in plans
        if p.caps.provider_limit
        and p.tightest_remaining is not None
        and (p.status == Key.Status.ACTIVE or p.pk in reinstating)
    ]
    lifetime = _lifetime_spend([p.pk for p in capped]) if capped else {}
    limits: dict[int, Decimal] = {}
    for p in capped:
        wanted = to_cents(lifetime.get(p.pk, ZERO) + max(ZERO, p.tightest_remaining))
        state = states.get(p.pk)
        if state is None or state.provider_limit_usd != wanted:
            limits[p.pk] = wanted

    runaway = _runaway_keys(
        now=now,
        policy=policy,
        key_ids={p.pk for p in plans if p.status == Key.Status.ACTIVE},
        account_ids={row["account_id"] for row in key_rows},
    )

    changing = {p.pk for p in to_suspend} | reinstating | set(limits) | set(runaway)
    related = ("account", "owner_user", "owner_project", "team", "requested_by")
    keys = {k.pk: k for k in Key.objects.filter(pk__in=changing).select_related(*related)} if changing else {}
    upserts: dict[int, KeyEnforcement] = {}

    def state_for(pk: int) -> KeyEnforcement:
        if pk not in upserts:
            old = states.get(pk)
            upserts[pk] = KeyEnforcement(
                key_id=pk,
                suspended_by=old.suspended_by if old else "",
                scope_key=old.scope_key if old else "",
                note=old.note if old else "",
                provider_limit_usd=old.provider_limit_usd if old else None,
                provider_limit_set_at=old.provider_limit_set_at if old else None,
            )
        upserts[pk].updated_at = now
        return upserts[pk]

    # 1. Provider-side caps (OpenRouter), before any suspension so the cap holds even if suspending fails.
    for pk, limit in limits.items():
        key = keys[pk]
        try:
            key.account.adapter().set_key_limit(provider_key_id=key.provider_key_id, limit_usd=limit)
        except ProviderError as error:
            report.errors.append(f"cap {key}: {error}")
            continue
        state = state_for(pk)
        state.provider_limit_usd, state.provider_limit_set_at = limit, now
        report.limits_set.append(pk)

    # 2. Suspensions for spent hard budgets. Notes per deciding budget go into its alert.
    outcome: dict[str, list[str]] = defaultdict(list)
    for plan in to_suspend:
        key, deciding = keys[plan.pk], plan.exhausted[0]
        reason = (
            f"Over budget: {deciding.scope_label} spent {_money(spend.get(deciding.scope_key, ZERO))} "
            f"of {_money(deciding.amount_usd)} in {quarter}"
        )
        state = state_for(plan.pk)
        state.scope_key = deciding.scope_key
        if not plan.caps.suspend:
            state.note = (
                f"{reason}. {key.account.get_kind_display()} cannot suspend keys through its API: the key keeps "
                "working until someone revokes it or raises the budget."
            )[:300]
            outcome[deciding.scope_key].append(f"{key.name} ({key.owner_label}): cannot be suspended at {key.account}")
            continue
        try:
            key_suspend(key=key, reason=reason[:200])
        except InvalidTransition:
            continue  # a concurrent run (or a person) changed it first
        except ProviderError as error:
            state.note = f"Suspending failed at the provider: {error}"[:300]
            report.errors.append(f"suspend {key}: {error}")
            outcome[deciding.scope_key].append(f"{key.name} ({key.owner_label}): suspending failed, will retry")
            continue
        state.suspended_by, state.note = KeyEnforcement.SuspendedBy.BUDGET, ""
        report.suspended.append(plan.pk)
        outcome[deciding.scope_key].append(f"{key.name} ({key.owner_label}): suspended")

    # 3. Reinstate keys this code suspended whose budgets have room again.
    for plan in to_reinstate:
        try:
            key_reinstate(key=keys[plan.pk], reason=f"Budget available again ({quarter})")
        except InvalidTransition:
            continue
        except ProviderError as error:
            report.errors.append(f"reinstate {keys[plan.pk]}: {error}")
            continue
        state = state_for(plan.pk)
        state.suspended_by, state.scope_key, state.note = "", "", ""
        report.reinstated.append(plan.pk)

    # 4. Runaway keys: alert at once; suspend the one key if policy says so.
    alerts: list[Alert] = []
    for pk, (last_hour, baseline, hour) in runaway.items():
        key = keys[pk]
        text = (
            f"Runaway spend on key {key.name} ({key.owner_label}, team {key.team}): "
            f"{_money(last_hour)} in the last hour against a usual {_money(baseline)} per hour."
        )
        if pk in report.suspended:
            text += " The key is suspended (its budget is spent)."
        elif policy.suspend_on_runaway and key.status == Key.Status.ACTIVE and key.account.capabilities.suspend:
            try:
                key_suspend(key=key, reason=f"Runaway spend: {_money(last_hour)} in one hour")
                state = state_for(pk)
                state.suspended_by, state.scope_key = KeyEnforcement.SuspendedBy.RUNAWAY, f"key:{pk}"
                report.suspended.append(pk)
                text += " The key is suspended; a manager can reinstate it."
            except (InvalidTransition, ProviderError) as error:
                text += f" Suspending it failed: {error}"
        elif policy.suspend_on_runaway and not key.account.capabilities.suspend:
            text += f" {key.account.get_kind_display()} cannot suspend keys through its API."
        report.runaway.append(pk)
        alerts.append(
            Alert(
                kind=Alert.Kind.RUNAWAY,
                scope="key",
                scope_key=f"key:{pk}",
                quarter=quarter.name,
                threshold=0,
                dedupe=hour.date().isoformat(),  # at most one runaway alert per key per day
                team_id=key.team_id,
                user_id=key.owner_user_id,
                project_id=key.owner_project_id,
                key=key,
                message=text,
                url=key.get_absolute_url(),
            )
        )

    # 5. Threshold, forecast and suspension alerts.
    existing = set(
        Alert.objects.filter(quarter=quarter.name)
        .exclude(kind=Alert.Kind.APPROVAL)
        .values_list("kind", "scope_key", "quarter", "threshold", "dedupe")
    )
    alerts += _budget_alerts(
        budgets=budgets,
        spend=spend,
        rates=rates,
        today=today,
        quarter=quarter,
        policy=policy,
        outcome=outcome,
        existing=existing,
    )
    report.alerts_created = insert_new_alerts([a for a in alerts if a.identity not in existing])

    if upserts:
        KeyEnforcement.objects.bulk_create(
            upserts.values(),
            update_conflicts=True,
            unique_fields=["key"],
            update_fields=[
                "suspended_by",
                "scope_key",
                "note",
                "provider_limit_usd",
                "provider_limit_set_at",
                "updated_at",
            ],
        )
    if report.alerts_created:
        from budgets.tasks import deliver_alerts

        transaction.on_commit(deliver_alerts.delay)
    return report


def _lifetime_spend(key_ids: list[int]) -> dict[int, Decimal]:
    """All recorded spend per key: OpenRouter's cap counts the key's whole life, not the quarter."""
    rows = DailyRollup.objects.filter(key_id__in=key_ids).values("key").annotate(total=_sum("cost_usd")).order_by()
    return {row["key"]: row["total"] for row in rows}


def _runaway_keys(
    *, now: datetime, policy: Policy, key_ids: set[int], account_ids: set[int]
) -> dict[int, tuple[Decimal, Decimal, datetime]]:
    """Keys whose last hour is far above their own trailing baseline (two queries).

    "Last hour" is the larger of the last complete hour bucket and the current (partial) one; the baseline is
    the average per hour over the 24 hours before that (hours without usage count as zero). A key is a runaway
    when its last hour is at least policy.runaway_min_usd and more than policy.runaway_multiplier × baseline.
    Only hourly buckets are used (OpenRouter reports per day, so its keys rely on their provider-side cap).
    """
    if not key_ids:
        return {}
    hour = now.replace(minute=0, second=0, microsecond=0)
    recent_start, baseline_start = hour - timedelta(hours=1), hour - timedelta(hours=25)
    buckets = UsageBucket.objects.filter(account_id__in=account_ids, bucket_width="1h", key__isnull=False)
    last: dict[int, tuple[Decimal, datetime]] = {}
    for row in (
        buckets.filter(bucket_start__gte=recent_start, bucket_start__lte=now)
        .values("key", "bucket_start")
        .annotate(total=_sum("cost_usd"))
        .order_by()
    ):
        if row["key"] in key_ids and row["total"] > last.get(row["key"], (ZERO, hour))[0]:
            last[row["key"]] = (row["total"], row["bucket_start"])
    candidates = {pk: v for pk, v in last.items() if v[0] >= policy.runaway_min_usd}
    if not candidates:
        return {}
    baseline = {
        row["key"]: row["total"] / 24
        for row in buckets.filter(bucket_start__gte=baseline_start, bucket_start__lt=recent_start)
        .values("key")
        .annotate(total=_sum("cost_usd"))
        .order_by()
    }
    return {
        pk: (spent, baseline.get(pk, ZERO), at)
        for pk, (spent, at) in candidates.items()
        if spent > policy.runaway_multiplier * baseline.get(pk, ZERO)
    }


def _budget_alerts(
    *,
    budgets: list[Budget],
    spend: dict[str, Decimal],
    rates: dict[str, BurnRate],
    today: date,
    quarter: Quarter,
    policy: Policy,
    outcome: dict[str, list[str]],
    existing: set[tuple],
) -> list[Alert]:
    """Alert rows for every crossing not recorded in `existing` yet."""
    alerts: list[Alert] = []
    for budget in budgets:
        spent = spend.get(budget.scope_key, ZERO)
        fc = forecast(
            spend=spent,
            amount=budget.amount_usd,
            rate=rates.get(budget.scope_key, NO_BURN),
            today=today,
            quarter=quarter,
        )
        dedupe = str(budget.amount_usd)
        # Exact comparison in Decimal: 100 % means spend == amount, not "rounds to 100".
        crossed = [t for t in policy.thresholds if spent * 100 >= budget.amount_usd * t]
        new = [t for t in crossed if (Alert.Kind.THRESHOLD, budget.scope_key, quarter.name, t, dedupe) not in existing]
        notes = outcome.pop(budget.scope_key, [])
        for t in new:
            text = (
                f"{budget.scope_title}: {_money(spent)} spent of the {_money(budget.amount_usd)} {quarter} "
                f"budget ({int(fc.percent or 0)} %)."
            )
            if t >= 100 and budget.hard:
                text += " The budget is hard: its keys are suspended until a bump is approved or the quarter ends."
            elif t >= 100:
                text += " The budget is soft: keys keep working."
            elif fc.run_out is not None:
                text += f" On track to run out on {_day(fc.run_out)}."
            if t >= 100 and notes:
                text += " Keys: " + "; ".join(notes) + "."
            alert = _budget_alert(budget, Alert.Kind.THRESHOLD, t, text, quarter)
            # Several thresholds crossed at once: record all, send only the highest.
            if t != max(new):
                alert.status = Alert.Status.SKIPPED
            alerts.append(alert)
        if notes and 100 not in new:
            identity = (Alert.Kind.SUSPENSION, budget.scope_key, quarter.name, 100, dedupe)
            if identity not in existing:
                alerts.append(
                    _budget_alert(
                        budget,
                        Alert.Kind.SUSPENSION,
                        100,
                        f"{budget.scope_title} is over its {_money(budget.amount_usd)} {quarter} budget. "
                        + "; ".join(notes)
                        + ".",
                        quarter,
                    )
                )
        if (
            spent < budget.amount_usd
            and fc.run_out is not None
            and (quarter.last_day - fc.run_out).days > policy.forecast_alert_days
        ):
            identity = (Alert.Kind.FORECAST, budget.scope_key, quarter.name, 100, dedupe)
            if identity not in existing:
                days_left = (quarter.last_day - fc.run_out).days
                alerts.append(
                    _budget_alert(
                        budget,
                        Alert.Kind.FORECAST,
                        100,
                        f"{budget.scope_title} is on track to run out on {_day(fc.run_out)}, "
                        f"{days_left} days before {quarter} ends: {_money(spent)} of {_money(budget.amount_usd)} "
                        f"spent, {_money(fc.projected)} projected by quarter end.",
                        quarter,
                    )
                )
    return alerts


def record_crossed_thresholds(*, budget: Budget) -> int:
    """After a budget changes (a bump, a new amount), record the thresholds it is already past as superseded.

    Alerts are deduplicated per budget amount, so without this a bump from $625 to $925 at $650 spent would
    announce "50 % crossed" again; only crossings from here on should alert.
    """
    quarter = Quarter.parse(budget.quarter)
    column = {Scope.USER: "owner_user", Scope.PROJECT: "owner_project", Scope.TEAM: "team"}.get(
        budget.scope, "cost_center"
    )
    spent = DailyRollup.objects.filter(
        day__gte=quarter.start, day__lt=quarter.end, **{column: budget.scope_id}
    ).aggregate(total=_sum("cost_usd"))["total"]
    rows = []
    for t in Policy.current().thresholds:
        if spent * 100 >= budget.amount_usd * t:
            alert = _budget_alert(
                budget,
                Alert.Kind.THRESHOLD,
                t,
                f"{budget.scope_title} was already past {t} % when the budget changed to {_money(budget.amount_usd)}.",
                quarter,
            )
            alert.status = Alert.Status.SKIPPED
            rows.append(alert)
    return insert_new_alerts(rows)


def insert_new_alerts(alerts: list[Alert]) -> int:
    """Insert alerts believed new. A row a racing run inserted first wins silently (unique constraint, ON
    CONFLICT DO NOTHING), so the count is what this run tried, not necessarily what it wrote."""
    if alerts:
        Alert.objects.bulk_create(alerts, ignore_conflicts=True)
    return len(alerts)
