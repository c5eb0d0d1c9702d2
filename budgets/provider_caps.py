"""Caps at the provider: keep each mapped scope's provider-side limits in step with its budgets.

A provider account whose `scope_per` option is "team" or "project" maps each such scope to one container at the
provider (an OpenAI project, an Anthropic workspace, an OpenRouter guardrail; budgets.provider_cap_models). After
every enforcement run (so after every sync and every approved bump) `provider_caps_keep`:

- sets the container's monthly spend limit to what the tightest hard budget still allows this month: the scope's
  spend on that account since the first of the month plus the least remaining amount of its hard budgets (no hard
  budget: no limit);
- from BudgetPolicy.degrade_at_percent of a hard budget, allows only small-tier models there (allocator.usage.
  pricing.model_tier), and lifts that when the budget is raised or the quarter turns;
- removes its limits from containers whose scope has no keys on the account any more, or whose account stopped
  mapping scopes.

Every write is an AuditEvent. A failed write stays on the row (error, attempts, next attempt), is retried with
backoff by `budgets.tasks.provider_caps_retry` and shown on the budget and key pages; a provider that refuses the
feature (403/404) leaves the row "not available for this organization", asked again once a day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent
from allocator.models import DailyRollup, Key, ProviderAccount
from allocator.money import ZERO, clamp, sum_money, usd
from allocator.providers.base import FeatureUnavailable, Provider, ProviderError
from allocator.quarters import Quarter
from allocator.task_queue import task_send
from allocator.usage.pricing import model_tiers
from budgets.models import Alert, Budget, BudgetPolicy, Scope, scope_key
from budgets.provider_cap_models import ProviderCap
from budgets.spend import scope_spend

RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 3600
UNAVAILABLE_RECHECK = timedelta(days=1)
MAX_PERCENT = 999
_KEY_FIELDS = ("account_id", "team_id", "team__slug", "team__cost_center_id", "owner_project_id",
               "owner_project__slug", "provider_key_id", "provider_data")  # fmt: skip


@dataclass
class CapsReport:
    written: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    unavailable: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


@dataclass
class _Scope:
    """One mapped scope of one account, from its keys (plain values)."""

    account: ProviderAccount
    adapter: Provider
    scope_key: str
    name: str
    covering: list[str]  # scope keys of the budgets that cover it, own first
    key_ids: list[str] = field(default_factory=list)
    containers: set[str] = field(default_factory=set)


@dataclass
class _Plan:
    limit: Decimal | None
    models: list[str] | None
    reason: str = ""
    deciding: Budget | None = None
    percent: int = 0


def _scope_key_of(per: str, row: dict) -> tuple[str, str, list[str]] | None:
    team = scope_key(Scope.TEAM, row["team_id"])
    cost_center = [scope_key(Scope.COST_CENTER, row["team__cost_center_id"])] if row["team__cost_center_id"] else []
    if per == "team":
        return team, f"allocator-team-{row['team__slug']}", [team, *cost_center]
    if row["owner_project_id"]:
        own = scope_key(Scope.PROJECT, row["owner_project_id"])
        return own, f"allocator-project-{row['owner_project__slug']}", [own, team, *cost_center]
    return None  # a person's key in a per-project account stays in the account's own container


def _mapped_scopes(accounts: list[ProviderAccount]) -> dict[tuple[int, str], _Scope]:
    """Every (account, scope) with managed keys on a mapping account, with its keys' containers (one query)."""
    adapters = {a.pk: a.adapter() for a in accounts}
    rows = Key.objects.filter(account__in=accounts, status__in=[Key.Status.ACTIVE, Key.Status.SUSPENDED])
    scopes: dict[tuple[int, str], _Scope] = {}
    accounts_by_pk = {a.pk: a for a in accounts}
    for row in rows.values(*_KEY_FIELDS):
        adapter = adapters[row["account_id"]]
        found = _scope_key_of(adapter.scope_per, row) if adapter.scope_per else None
        if found is None:
            continue
        key, name, covering = found
        scope = scopes.setdefault(
            (row["account_id"], key), _Scope(accounts_by_pk[row["account_id"]], adapter, key, name, covering)
        )
        scope.key_ids.append(row["provider_key_id"])
        container = (
            (row["provider_data"] or {}).get(adapter.scope_container_field) if adapter.scope_container_field else None
        )
        if container:
            scope.containers.add(str(container))
    return scopes


def _month_spend(accounts: list[ProviderAccount], now: datetime) -> dict[tuple[int, str], Decimal]:
    """Spend since the first of the month per (account, team) and (account, project): what the provider's monthly
    counter holds, as far as Allocator has synced it (one query)."""
    first = now.date().replace(day=1)
    rows = (
        DailyRollup.objects.filter(account__in=accounts, day__gte=first)
        .values("account_id", "team_id", "owner_project_id")
        .annotate(total=sum_money("cost_usd"))
        .order_by()
    )
    spent: dict[tuple[int, str], Decimal] = {}
    for row in rows:
        for scope, pk in ((Scope.TEAM, row["team_id"]), (Scope.PROJECT, row["owner_project_id"])):
            if pk is not None:
                key = (row["account_id"], scope_key(scope, pk))
                spent[key] = spent.get(key, ZERO) + row["total"]
    return spent


def _small_models(accounts: list[ProviderAccount], quarter: Quarter) -> dict[int, list[str]]:
    """Per account, the small-tier models among its allow-list, or else among the models it used this quarter."""
    used = DailyRollup.objects.filter(account__in=accounts, day__gte=quarter.start).values_list("account_id", "model")
    models: dict[int, set[str]] = {a.pk: set(a.allowed_models or []) for a in accounts}
    for account_id, model in used.distinct().order_by():
        if not next(a for a in accounts if a.pk == account_id).allowed_models:
            models[account_id].add(model)
    kinds = {a.pk: a.kind for a in accounts}
    tiers = model_tiers((kinds[pk], m) for pk, names in models.items() for m in names)
    return {pk: sorted(m for m in names if tiers[kinds[pk], m] == "small") for pk, names in models.items()}


def _plan(scope: _Scope, *, hard: dict[str, Budget], spend, month, small, policy: BudgetPolicy, quarter) -> _Plan:
    budgets = [hard[k] for k in scope.covering if k in hard]
    if not budgets:
        return _Plan(limit=None, models=None)
    remaining = min(b.amount_usd - spend.get(b.scope_key, ZERO) for b in budgets)
    limit = clamp(month.get((scope.account.pk, scope.scope_key), ZERO) + max(ZERO, remaining), low=ZERO)
    shares = [(spend.get(b.scope_key, ZERO) * 100 / b.amount_usd if b.amount_usd else Decimal(100), b) for b in budgets]
    share, deciding = max(shares, key=lambda pair: pair[0])
    percent = int(share)
    cheap = small.get(scope.account.pk) or []
    degrade = policy.degrade_at_percent and percent >= policy.degrade_at_percent and cheap
    if not (degrade and scope.adapter.capabilities.restricts_models):
        return _Plan(limit=limit.quantize(Decimal("0.01")), models=None)
    reason = (
        f"{deciding.scope_title} has spent {percent}\u00a0% of its {usd(deciding.amount_usd)} hard budget for "
        f"{quarter}: small-tier models only until the budget is raised or the quarter turns"
    )
    return _Plan(limit.quantize(Decimal("0.01")), cheap, reason[:300], deciding, min(percent, MAX_PERCENT))


def provider_caps_keep(
    *,
    now: datetime | None = None,
    spend: dict[str, Decimal] | None = None,
    budgets: list[Budget] | None = None,
    account_ids: list[int] | None = None,
    retrying: bool = False,
    enabled: list[ProviderAccount] | None = None,
) -> CapsReport:
    """Bring every mapped scope's provider-side caps in step (see the module docstring). Reads a fixed number of
    queries; each write costs its provider call, its row and its audit event. `retrying` ignores the backoff;
    `enabled` is the enabled accounts when the caller has read them already."""
    now = now or timezone.now()
    quarter, policy, report = Quarter.containing(now), BudgetPolicy.current(), CapsReport()
    accounts = enabled if enabled is not None else ProviderAccount.objects.filter(enabled=True)
    if account_ids is not None:
        accounts = [a for a in accounts if a.pk in account_ids]
    accounts = [a for a in accounts if a.capabilities.caps_scope_spend]
    caps = {(c.account_id, c.scope_key): c for c in ProviderCap.objects.filter(account__in=accounts)}
    mapping = [a for a in accounts if a.adapter().scope_per]
    if not mapping and not caps:
        return report
    scopes = _mapped_scopes(mapping)
    spend = spend if spend is not None else scope_spend(quarter=quarter)
    budgets = budgets if budgets is not None else list(Budget.objects.filter(quarter=quarter.name))
    hard = {b.scope_key: b for b in budgets if b.hard}
    month, small = _month_spend(mapping, now), _small_models(mapping, quarter)
    taken = {(c.account_id, c.provider_scope_id) for c in caps.values()}
    for (account_id, key), scope in scopes.items():
        cap = caps.pop((account_id, key), None) or _adopt(scope, taken=taken, now=now)
        if cap is None:
            continue
        plan = _plan(scope, hard=hard, spend=spend, month=month, small=small, policy=policy, quarter=quarter)
        _assign_keys(cap, scope)
        _apply(cap, plan, adapter=scope.adapter, now=now, retrying=retrying, report=report, quarter=quarter)
    for cap in caps.values():  # scopes Allocator no longer manages on that account
        if cap.state != ProviderCap.State.REMOVED:
            _remove(cap, now=now, report=report)
    _queue_alerts(report.alerts)
    return report


def _adopt(scope: _Scope, *, taken: set[tuple[int, str]], now: datetime) -> ProviderCap | None:
    """A row for a scope seen for the first time: the one container all its keys live in (never the account's
    default project or workspace), or a new one where the provider's containers are Allocator's to make."""
    adapter, account = scope.adapter, scope.account
    if adapter.scope_container_field:
        shared = scope.containers - {str(account.options.get(adapter.scope_container_field) or ""), "default", ""}
        if len(shared) != 1 or len(scope.containers) != 1 or (account.pk, next(iter(shared))) in taken:
            return None
        container = next(iter(shared))
    elif adapter.creates_scope_containers:
        try:
            container = adapter.scope_container_create(name=scope.name)
        except ProviderError:
            return None  # tried again on the next run
    else:
        return None
    taken.add((account.pk, container))
    return _cap_create(account=account, scope_key=scope.scope_key, container=container)


def _cap_create(*, account: ProviderAccount, scope_key: str, container: str) -> ProviderCap:
    try:
        with transaction.atomic():
            cap = ProviderCap.objects.create(account=account, scope_key=scope_key, provider_scope_id=container)
    except IntegrityError:  # a concurrent run (or mint) mapped it first
        return ProviderCap.objects.get(account=account, scope_key=scope_key)
    AuditEvent.record("provider_cap.mapped", target=cap, account=account.name, scope=scope_key, container=container)
    return cap


def _assign_keys(cap: ProviderCap, scope: _Scope) -> None:
    """Put keys not yet under the container's caps there (OpenRouter guardrails; a no-op elsewhere)."""
    fresh = [k for k in scope.key_ids if k not in (cap.assigned_key_ids or [])]
    if not fresh or scope.adapter.scope_container_field:
        return
    try:
        scope.adapter.scope_keys_assign(scope_id=cap.provider_scope_id, provider_key_ids=fresh)
    except ProviderError as error:
        cap.last_error = f"Assigning keys failed: {error}"[:500]
        cap.save(update_fields=["last_error"])
        return
    cap.assigned_key_ids = sorted({*(cap.assigned_key_ids or []), *fresh})
    cap.save(update_fields=["assigned_key_ids"])


def _due(cap: ProviderCap, *, now: datetime, retrying: bool) -> bool:
    if retrying:
        return True
    if cap.state == ProviderCap.State.RETRYING:
        return cap.next_attempt_at is None or cap.next_attempt_at <= now
    if cap.state == ProviderCap.State.UNAVAILABLE:
        return cap.next_attempt_at is None or cap.next_attempt_at <= now
    return True


def _apply(cap: ProviderCap, plan: _Plan, *, adapter: Provider, now, retrying, report: CapsReport, quarter) -> None:
    """Write what differs from the row (or everything, after a failure) and record it."""
    limit_changed = plan.limit != cap.limit_usd or cap.state != ProviderCap.State.IN_STEP
    models_changed = plan.models != cap.allowed_models
    if not (limit_changed or models_changed) or not _due(cap, now=now, retrying=retrying):
        return
    scope_id, status = cap.provider_scope_id, cap.enforcement_status
    try:
        if limit_changed and plan.limit is None:
            adapter.scope_limit_remove(scope_id=scope_id)
            status = ""
        elif limit_changed:
            status = adapter.scope_limit_set(scope_id=scope_id, amount_usd=plan.limit).status
        if models_changed:
            adapter.scope_models_set(scope_id=scope_id, models=plan.models)
    except FeatureUnavailable as error:
        _unavailable(cap, error, now=now, report=report)
        return
    except ProviderError as error:
        _failed(cap, error, now=now, report=report)
        return
    narrowed = models_changed and plan.models is not None
    restored = models_changed and plan.models is None
    cap.limit_usd, cap.enforcement_status = plan.limit, status
    cap.allowed_models, cap.degraded_reason = plan.models, plan.reason
    cap.state, cap.attempts, cap.next_attempt_at, cap.last_error = ProviderCap.State.IN_STEP, 0, None, ""
    cap.last_set_at = now
    cap.save()
    details = {"account": cap.account.name, "scope": cap.scope_key, "container": scope_id}
    if limit_changed:
        action = "provider_cap.limit_removed" if plan.limit is None else "provider_cap.limit_set"
        AuditEvent.record(action, target=cap, limit_usd=str(plan.limit) if plan.limit is not None else None, **details)
    if narrowed:
        AuditEvent.record("provider_cap.models_narrowed", target=cap, models=plan.models, reason=plan.reason, **details)
        report.alerts.append(_degrade_alert(cap, plan, quarter=quarter))
    if restored:
        AuditEvent.record("provider_cap.models_restored", target=cap, **details)
    report.written.append(cap.pk)


def _failed(cap: ProviderCap, error: ProviderError, *, now: datetime, report: CapsReport) -> None:
    cap.attempts += 1
    delay = min(RETRY_BASE_SECONDS * 2 ** (cap.attempts - 1), RETRY_MAX_SECONDS)
    if error.retry_after is not None:
        delay = max(delay, int(error.retry_after))
    cap.state, cap.last_error = ProviderCap.State.RETRYING, str(error)[:500]
    cap.next_attempt_at = now + timedelta(seconds=delay)
    cap.save(update_fields=["state", "last_error", "attempts", "next_attempt_at"])
    AuditEvent.record(
        "provider_cap.write_failed", target=cap, scope=cap.scope_key, error=cap.last_error, attempt=cap.attempts
    )
    report.failed.append(cap.pk)
    from budgets.tasks import provider_caps_retry

    account_id = cap.account_id
    transaction.on_commit(lambda: task_send(provider_caps_retry, account_id, countdown=delay))


def _unavailable(cap: ProviderCap, error: ProviderError, *, now: datetime, report: CapsReport) -> None:
    first = cap.state != ProviderCap.State.UNAVAILABLE
    cap.state, cap.last_error = ProviderCap.State.UNAVAILABLE, str(error)[:500]
    cap.next_attempt_at = now + UNAVAILABLE_RECHECK
    cap.save(update_fields=["state", "last_error", "next_attempt_at"])
    if first:
        AuditEvent.record("provider_cap.unavailable", target=cap, scope=cap.scope_key, error=cap.last_error)
    report.unavailable.append(cap.pk)


def _remove(cap: ProviderCap, *, now: datetime, report: CapsReport) -> None:
    """Allocator no longer manages this scope here: take its limit and model restriction off the container."""
    adapter = cap.account.adapter()
    try:
        if cap.limit_usd is not None or cap.state != ProviderCap.State.IN_STEP:
            adapter.scope_limit_remove(scope_id=cap.provider_scope_id)
        if cap.allowed_models is not None:
            adapter.scope_models_set(scope_id=cap.provider_scope_id, models=None)
    except FeatureUnavailable:
        pass  # nothing can have been set there
    except ProviderError as error:
        _failed(cap, error, now=now, report=report)
        return
    cap.state, cap.limit_usd, cap.allowed_models, cap.degraded_reason = ProviderCap.State.REMOVED, None, None, ""
    cap.enforcement_status, cap.last_error, cap.attempts, cap.last_set_at = "", "", 0, now
    cap.save()
    AuditEvent.record("provider_cap.removed", target=cap, account=cap.account.name, scope=cap.scope_key)
    report.removed.append(cap.pk)


def _degrade_alert(cap: ProviderCap, plan: _Plan, *, quarter: Quarter) -> Alert:
    from budgets.thresholds import limit_alert

    models = ", ".join(plan.models or [])
    text = f"{plan.reason}. {cap.account.name} now allows only: {models}."
    alert = limit_alert(plan.deciding, Alert.Kind.THRESHOLD, plan.percent, text, quarter)
    alert.dedupe = f"models:{plan.deciding.amount_usd}"[:40]
    return alert


def _queue_alerts(alerts: list[Alert]) -> None:
    if not alerts:
        return
    from budgets.tasks import deliver_alerts
    from budgets.thresholds import insert_new_alerts

    insert_new_alerts(alerts)
    transaction.on_commit(deliver_alerts.delay)


# --- minting into a scope's container ---------------------------------------------------------------------


def scope_mint_adapter(*, account: ProviderAccount, team_id: int, project_id: int | None) -> Provider:
    """The adapter that mints a key for this team or project: on an account with one OpenAI project per scope, the
    scope's own project (created on first use); else the account's adapter as it is."""
    adapter = account.adapter()
    per = adapter.scope_per
    if not per or not adapter.creates_scope_containers or not adapter.scope_container_field:
        return adapter
    if per == "project" and project_id is None:
        return adapter
    from accounts.models import Project, Team

    if per == "team":
        key, name = scope_key(Scope.TEAM, team_id), f"allocator-team-{Team.objects.get(pk=team_id).slug}"
    else:
        key, name = scope_key(Scope.PROJECT, project_id), f"allocator-project-{Project.objects.get(pk=project_id).slug}"
    cap = ProviderCap.objects.filter(account=account, scope_key=key).first()
    if cap is None:
        cap = _cap_create(account=account, scope_key=key, container=adapter.scope_container_create(name=name))
    return adapter.in_scope_container(cap.provider_scope_id)
