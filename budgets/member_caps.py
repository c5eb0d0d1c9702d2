"""Per-member hard spend limits at a coding tool (Cursor), kept in step with each person's budgets.

An account whose adapter declares `member_spend_limit` and whose option `member_limits` is on gets, after every
enforcement run (so after every sync and every approved bump), each member matched to a person by email set to
what the tightest hard budget covering that person (their own, their teams', their cost centers') still allows:
the member's spend this billing cycle as the tool reports it plus the least remaining amount, rounded down to
whole dollars (the tool takes whole dollars only). Someone over budget is held at what they have spent. No hard
budget: a limit Allocator set is removed, and a member Allocator never limited is left alone.

The rows are budgets.provider_cap_models.ProviderCap (scope "user:<id>", container = the member's email) and go
through the same steps as the other provider-side caps (budgets/provider_caps.py): every write is an audit event;
a failed write stays on the row with its error and is retried with backoff by `budgets.tasks.provider_caps_retry`;
a value the tool would refuse is checked before any call and left on the row as the error.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import AuditEvent, Membership, User
from allocator.models import ProviderAccount
from allocator.money import MAX_USD, ZERO
from allocator.providers.base import ProviderError
from allocator.quarters import Quarter
from budgets.models import Budget, Scope, scope_key
from budgets.provider_cap_models import ProviderCap
from budgets.provider_caps import CapsReport, _cap_create, _due, _failed  # the shared write/retry steps
from budgets.spend import scope_spend


def _covering(users: list[User]) -> dict[int, list[str]]:
    """Scope keys of the budgets covering each person: their own, their teams', their teams' cost centers'."""
    covering = {u.pk: [scope_key(Scope.USER, u.pk)] for u in users}
    memberships = Membership.objects.filter(user__in=users).values_list("user_id", "team_id", "team__cost_center_id")
    for user_id, team_id, cost_center_id in memberships:
        covering[user_id] += [scope_key(Scope.TEAM, team_id), scope_key(Scope.COST_CENTER, cost_center_id)]
    return covering


def member_limit_dollars(*, cycle_spend: Decimal, covering: list[str], hard: dict[str, Budget], spend) -> int | None:
    """Whole dollars the member may spend this cycle, or None when no hard budget covers them."""
    budgets = [hard[k] for k in dict.fromkeys(covering) if k in hard]
    if not budgets:
        return None
    remaining = max(ZERO, min(b.amount_usd - spend.get(b.scope_key, ZERO) for b in budgets))
    return int(min(cycle_spend + remaining, MAX_USD).to_integral_value(rounding=ROUND_FLOOR))


def member_caps_keep(
    *,
    now: datetime | None = None,
    spend: dict[str, Decimal] | None = None,
    budgets: list[Budget] | None = None,
    account_ids: list[int] | None = None,
    retrying: bool = False,
    enabled: list[ProviderAccount] | None = None,
) -> CapsReport:
    """Bring every member limit of every such account in step (see the module docstring). `enabled`: the enabled
    accounts, when the caller has read them already."""
    now, report = now or timezone.now(), CapsReport()
    accounts = enabled if enabled is not None else ProviderAccount.objects.filter(enabled=True)
    if account_ids is not None:
        accounts = [a for a in accounts if a.pk in account_ids]
    accounts = [a for a in accounts if a.capabilities.member_spend_limit]
    if not accounts:
        return report
    quarter = Quarter.containing(now)
    spend = spend if spend is not None else scope_spend(quarter=quarter)
    budgets = budgets if budgets is not None else list(Budget.objects.filter(quarter=quarter.name))
    hard = {b.scope_key: b for b in budgets if b.hard}
    for account in accounts:
        _keep_account(account, now=now, spend=spend, hard=hard, retrying=retrying, report=report)
    return report


def _keep_account(account: ProviderAccount, *, now, spend, hard, retrying: bool, report: CapsReport) -> None:
    adapter = account.adapter()
    caps = {c.scope_key: c for c in ProviderCap.objects.filter(account=account).select_related("account")}
    if not adapter.options.get("member_limits"):
        for cap in caps.values():
            if cap.limit_usd is not None and _due(cap, now=now, retrying=retrying):
                _write(cap, None, adapter=adapter, now=now, report=report)
        return
    try:
        _cycle, members = adapter.member_spend()
    except ProviderError as error:
        for cap in caps.values():  # shown on the rows it would have written; the next run reads again
            if cap.state != ProviderCap.State.REMOVED:
                _failed(cap, error, now=now, report=report)
        return
    by_email = {m.email: m for m in members}
    users = User.objects.annotate(lower_email=Lower("email")).filter(lower_email__in=list(by_email), is_active=True)
    users = list(users)  # matched whatever the case either side writes the address in
    people = {u.email.lower(): u for u in users}
    covering = _covering(users)
    for email, member in by_email.items():
        person = people.get(email)
        if person is None:
            continue  # not matched: listed with the tool's unmatched identities, never limited blindly
        dollars = member_limit_dollars(cycle_spend=member.spend_usd, covering=covering[person.pk], hard=hard,
                                       spend=spend)  # fmt: skip
        key = scope_key(Scope.USER, person.pk)
        cap = caps.get(key)
        if cap is None:
            if dollars is None:
                continue
            cap = _cap_create(account=account, scope_key=key, container=email)
        wanted = Decimal(dollars) if dollars is not None else None
        changed = wanted != cap.limit_usd or cap.state != ProviderCap.State.IN_STEP or cap.provider_scope_id != email
        if changed and _due(cap, now=now, retrying=retrying):
            _write(cap, dollars, adapter=adapter, now=now, report=report, email=email)


def _write(cap: ProviderCap, dollars: int | None, *, adapter, now, report: CapsReport, email: str = "") -> None:
    email = email or cap.provider_scope_id
    try:
        adapter.member_limit_set(email=email, dollars=dollars)
    except ProviderError as error:
        _failed(cap, error, now=now, report=report)
        return
    cap.provider_scope_id = email
    cap.limit_usd = Decimal(dollars) if dollars is not None else None
    cap.state, cap.attempts, cap.next_attempt_at, cap.last_error = ProviderCap.State.IN_STEP, 0, None, ""
    cap.enforcement_status, cap.last_set_at = ("enforcing" if dollars is not None else ""), now
    cap.save()
    action = "provider_cap.limit_removed" if dollars is None else "provider_cap.limit_set"
    AuditEvent.record(action, target=cap, account=cap.account.name, scope=cap.scope_key, container=email,
                      limit_usd=str(dollars) if dollars is not None else None)  # fmt: skip
    report.written.append(cap.pk)
