"""The enforcement run: compare spend with every budget and key allowance of the quarter, and act.

A key's spend counts against its owner (a person or a project), its team, the team's cost center and the key's
own quarterly allowance. The tightest of those decides: a key is suspended when any of its hard limits is spent,
and an OpenRouter key's provider-side cap is set from the smallest remaining amount.

Everything is read in a fixed number of queries and decided in Python; only keys whose state changes cost
queries of their own (the provider call and its audit trail).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from allocator.models import InvalidTransition, Key, ProviderAccount
from allocator.money import ZERO, clamp, to_cents, usd
from allocator.providers import provider_class
from allocator.providers.base import ProviderError
from allocator.quarters import Quarter
from budgets.allowance import Allowance
from budgets.forecast import budget_scope_series
from budgets.models import Alert, Budget, BudgetPolicy, KeyEnforcement, Scope, scope_key
from budgets.runaway import runaway_alert, runaway_keys, runaway_text
from budgets.series_store import series_store
from budgets.spend import KEY_SCOPE, lifetime_spend, scope_spend
from budgets.thresholds import Limit, insert_new_alerts, limit_alerts

logger = logging.getLogger(__name__)

_KEY_FIELDS = (
    "pk",
    "name",
    "status",
    "limit_usd",
    "owner_user_id",
    "owner_project_id",
    "team_id",
    "team__cost_center_id",
    "account__kind",
    "account_id",
)
_STATE_FIELDS = ("suspended_by", "scope_key", "note", "provider_limit_usd", "provider_limit_set_at", "updated_at")


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
        counted = ("suspended", "reinstated", "limits_set", "runaway")
        return {
            "quarter": self.quarter,
            "budgets": self.budgets,
            "keys": self.keys,
            "alerts_created": self.alerts_created,
            **{name: len(getattr(self, name)) for name in counted},
            "errors": self.errors,
        }


def enforce_budgets(*, now: datetime | None = None) -> EnforcementReport:
    """Compare spend with every budget and key allowance of the current quarter and act. Safe to run twice,
    concurrently.

    - Thresholds (BudgetPolicy, default 50/80/100 %): one alert per crossing, guaranteed by Alert's unique constraint.
    - A hard budget or a key's allowance at 100 %: the keys it covers are suspended (allocator.keys.
      key_suspend); keys this code suspended come back (key_reinstate) when none of their hard limits is spent
      any more (a bump, a raised budget or allowance, a new quarter).
    - OpenRouter keys get a provider-side cap, so the limit holds between syncs.
    - Scopes mapped to a provider project, workspace or guardrail get its monthly limit (budgets.provider_caps).
    - Forecast alerts, and runaway detection from the last day of hourly usage buckets.
    """
    run = _Run(now or timezone.now())
    run.set_provider_caps()  # before any suspension, so the cap holds even if suspending fails
    run.suspend_spent_keys()
    run.reinstate_keys_with_room()
    run.keep_provider_caps()
    alerts = run.handle_runaway_keys()
    alerts += run.limit_alerts()
    run.save(alerts)
    return run.report


class _KeyPlan:
    """What this run decided for one key (plain values, no queries)."""

    __slots__ = ("pk", "status", "caps", "exhausted", "tightest_remaining")

    def __init__(self, row: dict, limits_by_scope: dict[str, Limit], spend: dict[str, Decimal]) -> None:
        self.pk = row["pk"]
        self.status = row["status"]
        self.caps = provider_class(row["account__kind"]).capabilities
        owner = (
            scope_key(Scope.USER, row["owner_user_id"])
            if row["owner_user_id"]
            else scope_key(Scope.PROJECT, row["owner_project_id"])
        )
        keys = [
            owner,
            scope_key(Scope.TEAM, row["team_id"]),
            scope_key(Scope.COST_CENTER, row["team__cost_center_id"]),
            scope_key(KEY_SCOPE, self.pk),
        ]
        hard = [
            (lim.amount_usd - spend.get(k, ZERO), lim) for k in keys if (lim := limits_by_scope.get(k)) and lim.hard
        ]
        # Tightest first: the least remaining (most overspent) hard limit decides.
        hard.sort(key=lambda pair: pair[0])
        self.exhausted = [lim for remaining, lim in hard if remaining <= 0]
        self.tightest_remaining = hard[0][0] if hard else None


class _Run:
    """One enforcement run: what it read, what it decided, and what it did so far."""

    def __init__(self, now: datetime) -> None:
        self.now, self.today = now, now.date()
        self.quarter = Quarter.containing(now)
        self.policy = BudgetPolicy.current()
        self.report = EnforcementReport(quarter=self.quarter.name)
        self.upserts: dict[int, KeyEnforcement] = {}
        self.outcome: dict[str, list[str]] = defaultdict(list)  # per deciding scope: what happened to its keys
        self._read()
        self._decide()

    def _read(self) -> None:
        budgets = Budget.objects.filter(quarter=self.quarter.name)
        self.budgets = list(budgets.select_related("cost_center", "team", "project", "user"))
        self.key_rows = list(
            Key.objects.filter(status__in=[Key.Status.ACTIVE, Key.Status.SUSPENDED]).values(*_KEY_FIELDS)
        )
        allowances = [Allowance.from_row(row, quarter=self.quarter.name) for row in self.key_rows]
        self.limits: list[Limit] = [*self.budgets, *(a for a in allowances if a is not None)]
        self.spend = scope_spend(quarter=self.quarter)
        self.states = {e.key_id: e for e in KeyEnforcement.objects.all()}
        alerts = Alert.objects.filter(quarter=self.quarter.name).exclude(kind=Alert.Kind.APPROVAL)
        self.existing = set(alerts.values_list("kind", "scope_key", "quarter", "threshold", "dedupe"))
        self.report.budgets, self.report.keys = len(self.budgets), len(self.key_rows)

    def _decide(self) -> None:
        """Which keys to suspend, reinstate, cap or flag as runaway: plain values first, provider calls later."""
        limits_by_scope = {lim.scope_key: lim for lim in self.limits}
        plans = [_KeyPlan(row, limits_by_scope, self.spend) for row in self.key_rows]
        active = Key.Status.ACTIVE
        self.to_suspend = [p for p in plans if p.status == active and p.exhausted]
        self.to_reinstate = [p for p in plans if p.status == Key.Status.SUSPENDED and not p.exhausted and self._ours(p)]
        reinstating = {p.pk for p in self.to_reinstate}
        capped = [
            p
            for p in plans
            if p.caps.provider_limit
            and p.tightest_remaining is not None
            and (p.status == active or p.pk in reinstating)
        ]
        self.caps = self._wanted_caps(capped)
        self.runaway = runaway_keys(
            now=self.now,
            policy=self.policy,
            key_ids={p.pk for p in plans if p.status == active},
            account_ids={row["account_id"] for row in self.key_rows},
        )
        changing = {p.pk for p in self.to_suspend} | reinstating | set(self.caps) | set(self.runaway)
        related = ("account", "owner_user", "owner_project", "team", "requested_by")
        self.keys = {k.pk: k for k in Key.objects.filter(pk__in=changing).select_related(*related)} if changing else {}

    def _ours(self, plan: _KeyPlan) -> bool:
        """Suspended by this code for a spent budget or allowance (not by a person, not as a runaway)."""
        state = self.states.get(plan.pk)
        return state is not None and state.suspended_by == KeyEnforcement.SuspendedBy.BUDGET

    def _wanted_caps(self, capped: list[_KeyPlan]) -> dict[int, Decimal]:
        """Provider-side caps that differ from what was set: lifetime spend + the tightest remaining amount."""
        lifetime = lifetime_spend([p.pk for p in capped])
        caps = {}
        for p in capped:
            wanted = to_cents(clamp(lifetime.get(p.pk, ZERO) + max(ZERO, p.tightest_remaining), low=ZERO))
            state = self.states.get(p.pk)
            if state is None or state.provider_limit_usd != wanted:
                caps[p.pk] = wanted
        return caps

    def _state(self, pk: int) -> KeyEnforcement:
        """The KeyEnforcement row this run will write for a key (starting from the stored one)."""
        if pk not in self.upserts:
            old = self.states.get(pk)
            self.upserts[pk] = KeyEnforcement(key_id=pk, **({f: getattr(old, f) for f in _STATE_FIELDS} if old else {}))
        self.upserts[pk].updated_at = self.now
        return self.upserts[pk]

    def set_provider_caps(self) -> None:
        for pk, limit in self.caps.items():
            key = self.keys[pk]
            try:
                key.account.adapter().set_key_limit(provider_key_id=key.provider_key_id, limit_usd=limit)
            except ProviderError as error:
                self.report.errors.append(f"cap {key}: {error}")
                continue
            state = self._state(pk)
            state.provider_limit_usd, state.provider_limit_set_at = limit, self.now
            self.report.limits_set.append(pk)

    def suspend_spent_keys(self) -> None:
        """Suspend keys with a spent hard limit. What happened goes into the deciding limit's alert."""
        from allocator.keys import key_suspend

        for plan in self.to_suspend:
            key, deciding = self.keys[plan.pk], plan.exhausted[0]
            spent = usd(self.spend.get(deciding.scope_key, ZERO))
            reason = (
                f"Over {deciding.noun}: {deciding.scope_label} spent {spent} of {usd(deciding.amount_usd)} "
                f"in {self.quarter}"
            )
            state = self._state(plan.pk)
            state.scope_key = deciding.scope_key
            notes = self.outcome[deciding.scope_key]
            if not plan.caps.suspend:
                state.note = (
                    f"{reason}. {key.account.get_kind_display()} cannot suspend keys through its API: the key keeps "
                    f"working until someone revokes it or raises the {deciding.noun}."
                )[:300]
                notes.append(f"{key.name} ({key.owner_label}): cannot be suspended at {key.account}")
                continue
            try:
                key_suspend(key=key, reason=reason[:200])
            except InvalidTransition:
                continue  # a concurrent run (or a person) changed it first
            except ProviderError as error:
                state.note = f"Suspending failed at the provider: {error}"[:300]
                self.report.errors.append(f"suspend {key}: {error}")
                notes.append(f"{key.name} ({key.owner_label}): suspending failed, will retry")
                continue
            state.suspended_by, state.note = KeyEnforcement.SuspendedBy.BUDGET, ""
            self.report.suspended.append(plan.pk)
            notes.append(f"{key.name} ({key.owner_label}): suspended")

    def reinstate_keys_with_room(self) -> None:
        """Reinstate keys this code suspended whose budgets and allowance have room again."""
        from allocator.keys import key_reinstate

        for plan in self.to_reinstate:
            try:
                key_reinstate(key=self.keys[plan.pk], reason=f"Budget available again ({self.quarter})")
            except InvalidTransition:
                continue
            except ProviderError as error:
                self.report.errors.append(f"reinstate {self.keys[plan.pk]}: {error}")
                continue
            state = self._state(plan.pk)
            state.suspended_by, state.scope_key, state.note = "", "", ""
            self.report.reinstated.append(plan.pk)

    def keep_provider_caps(self) -> None:
        """Provider-side limits and model lists of mapped scopes, from this run's spend and budgets."""
        from budgets.member_caps import member_caps_keep
        from budgets.provider_caps import provider_caps_keep

        enabled = list(ProviderAccount.objects.filter(enabled=True))
        for keep in (provider_caps_keep, member_caps_keep):  # scopes' containers; coding-tool members' limits
            try:
                caps = keep(now=self.now, spend=self.spend, budgets=self.budgets, enabled=enabled)
            except Exception as error:  # noqa: BLE001 - provider caps must never stop suspensions and alerts
                logger.exception("keeping provider caps failed")
                self.report.errors.append(f"provider caps: {error.__class__.__name__}")
                continue
            self.report.errors += [f"provider cap #{pk}: write failed, retrying" for pk in caps.failed]

    def handle_runaway_keys(self) -> list[Alert]:
        """Alert at once about runaway keys; suspend the one key if policy says so."""
        from allocator.keys import key_suspend

        alerts = []
        for pk, runaway in self.runaway.items():
            key = self.keys[pk]
            text = runaway_text(key, runaway)
            can_suspend = key.account.capabilities.suspend
            if pk in self.report.suspended:
                text += " The key is suspended (its budget is spent)."
            elif self.policy.suspend_on_runaway and key.status == Key.Status.ACTIVE and can_suspend:
                try:
                    key_suspend(key=key, reason=f"Runaway spend: {usd(runaway.last_hour)} in one hour")
                    state = self._state(pk)
                    state.suspended_by, state.scope_key = KeyEnforcement.SuspendedBy.RUNAWAY, f"key:{pk}"
                    self.report.suspended.append(pk)
                    text += " The key is suspended; a manager can reinstate it."
                except (InvalidTransition, ProviderError) as error:
                    text += f" Suspending it failed: {error}"
            elif self.policy.suspend_on_runaway and not can_suspend:
                text += f" {key.account.get_kind_display()} cannot suspend keys through its API."
            self.report.runaway.append(pk)
            alerts.append(runaway_alert(key, runaway, text=text, quarter=self.quarter))
        return alerts

    def limit_alerts(self) -> list[Alert]:
        """Threshold, forecast and suspension alerts of every budget and allowance."""
        series = budget_scope_series(today=self.today)
        outlooks: dict[str, list[str]] = {}
        alerts = limit_alerts(
            limits=self.limits,
            spend=self.spend,
            series=series,
            today=self.today,
            elapsed=(self.now - self.now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 86400,
            quarter=self.quarter,
            policy=self.policy,
            outcome=self.outcome,
            existing=self.existing,
            outlooks=outlooks,
        )
        series_store(series=series, outlooks=outlooks, today=self.today)  # for the pages
        return alerts

    def save(self, alerts: list[Alert]) -> None:
        """Insert new alerts (ON CONFLICT DO NOTHING), upsert the keys' enforcement state, queue delivery."""
        self.report.alerts_created = insert_new_alerts([a for a in alerts if a.identity not in self.existing])
        if self.upserts:
            KeyEnforcement.objects.bulk_create(
                self.upserts.values(), update_conflicts=True, unique_fields=["key"], update_fields=list(_STATE_FIELDS)
            )
        if self.report.alerts_created:
            from budgets.tasks import deliver_alerts

            transaction.on_commit(deliver_alerts.delay)
