"""Budget requests (bumps): ask for more on a budget or on a key's quarterly allowance, routed by policy like key
requests; an approved bump raises the budget (and, when finance approved one past the team's budget, the parents
to fit) or the key's allowance (budgets.allowance), and enforcement then reinstates what has room again.
Deciding is allocator.approvals.

Anyone asks for a bump of their own budget, their team's project budgets, or (managers) their team's budget; and
of the allowance of a key they own, or of a project key of one of their teams.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from accounts.models import AuditEvent, User
from accounts.permissions import Access
from accounts.services import notify
from allocator.models import PURPOSE_MAX_LENGTH, Key, Policy
from allocator.money import MAX_USD, ZERO, amount_error, to_cents, usd
from allocator.quarters import Quarter
from budgets.allocation import allocation, enforcement_enqueue, parent_budget
from budgets.allowance import Allowance, key_allowance_raise
from budgets.models import Budget, BudgetRequest, Scope
from budgets.reports.models import QuarterClose
from budgets.thresholds import record_crossed_thresholds


def bumpable_budgets(user: User, *, quarter: Quarter | None = None):
    """Budgets this person may ask more for: their own, their teams' projects, and (managers) their teams'."""
    access = Access(user)
    quarter = quarter or Quarter.current()
    q = Q(scope=Scope.USER, user=user) | Q(scope=Scope.PROJECT, team_id__in=access.team_ids)
    q |= Q(scope=Scope.TEAM, team_id__in=access.managed_team_ids)
    return Budget.objects.filter(q, quarter=quarter.name).select_related("team", "project", "user", "cost_center")


def bumpable_keys(user: User):
    """Keys whose allowance this person may ask more for: their own, and their teams' project keys (live ones with
    an allowance: a key without one is limited by its budgets only)."""
    access = Access(user)
    q = Q(owner_user=user) | Q(owner_project__isnull=False, owner_project__team_id__in=access.team_ids)
    q |= Q(owner_project__isnull=False, team_id__in=access.managed_team_ids)
    live = (Key.Status.ACTIVE, Key.Status.SUSPENDED)
    keys = Key.objects.filter(q, status__in=live, limit_usd__gt=ZERO).select_related("owner_user", "owner_project")
    return keys.order_by("name", "pk")


def bump_quarter(bump: BudgetRequest) -> Quarter:
    """The quarter a bump is for: its budget's, or (a key's allowance) the quarter it was asked in."""
    if bump.budget_id is not None:
        return Quarter.parse(bump.budget.quarter)
    return Quarter.containing(bump.created_at)


def bump_target(bump: BudgetRequest) -> Budget | Allowance:
    """What a bump raises, shaped alike for the pages: the budget, or the key's allowance."""
    if bump.budget_id is not None:
        return bump.budget
    key = bump.key
    return Allowance(
        key_id=key.pk,
        name=key.name,
        amount_usd=key.limit_usd or ZERO,
        team_id=key.team_id,
        owner_user_id=key.owner_user_id,
        owner_project_id=key.owner_project_id,
        quarter=bump_quarter(bump).name,
    )


def bump_exceeds_parent(budget: Budget, extra: Decimal) -> bool:
    """Would `extra` on `budget` take its team past the team's budget (then finance decides too)?"""
    parent = parent_budget(budget)
    if parent is None or budget.scope == Scope.TEAM:
        return False  # team bumps are finance's own decision anyway
    allocated, _ = allocation(parent=parent)
    return allocated + extra > parent.amount_usd


def _amount_problem(*, target: Budget | Key, amount_usd: Decimal | None) -> str | None:
    if (problem := amount_error(ZERO if amount_usd is None else amount_usd)) is not None:
        return "Ask for more than $0." if problem.endswith("more than $0.") else problem
    return bump_beyond_ceiling(target=target, amount_usd=to_cents(amount_usd))


def _target_problem(*, requester: User, budget: Budget | None, key: Key | None) -> str | None:
    """Why this person cannot ask for more on this target now, or None."""
    if key is not None:
        if not bumpable_keys(requester).filter(pk=key.pk).exists():
            return "You can ask for more only on the allowance of your own keys or your projects' keys."
        if BudgetRequest.objects.filter(key=key, state=BudgetRequest.State.PENDING).exists():
            return "A request for this key's allowance is already waiting."
        return None
    if (closed := QuarterClose.refusal(budget.quarter)) is not None:
        return closed
    if budget.quarter != Quarter.current().name:
        return f"That budget is for {budget.quarter}; bumps are for the current quarter."
    if not bumpable_budgets(requester).filter(pk=budget.pk).exists():
        return "You can ask for more only on your own, your projects' or (as manager) your team's budget."
    if BudgetRequest.objects.filter(budget=budget, requester=requester, state=BudgetRequest.State.PENDING).exists():
        return "You already have a request waiting for this budget."
    return None


def budget_request_create(
    *,
    requester: User,
    amount_usd: Decimal,
    reason: str,
    budget: Budget | None = None,
    key: Key | None = None,
) -> BudgetRequest:
    """Ask for `amount_usd` more this quarter on `budget` or on `key`'s allowance (exactly one); routed by policy
    like key requests."""
    if (budget is None) == (key is None):
        raise ValidationError({"budget": "Pick one budget or one key allowance."})
    errors: dict[str, str] = {}
    if (problem := _amount_problem(target=budget or key, amount_usd=amount_usd)) is not None:
        errors["amount_usd"] = problem
    if not reason.strip():
        errors["reason"] = "Say what the extra budget is for."
    elif len(reason.strip()) > PURPOSE_MAX_LENGTH:
        errors["reason"] = f"Keep the reason to at most {PURPOSE_MAX_LENGTH:,} characters."
    if (problem := _target_problem(requester=requester, budget=budget, key=key)) is not None:
        errors["budget"] = problem
    if errors:
        raise ValidationError(errors)

    amount_usd = to_cents(amount_usd)
    policy = Policy.current()
    with transaction.atomic():
        bump = BudgetRequest(
            budget=budget,
            key=key,
            requester=requester,
            team_id=(budget or key).team_id,
            amount_usd=amount_usd,
            reason=reason.strip(),
        )
        bump.submit(
            auto_limit=policy.auto_approve_limit_usd,
            finance_above=policy.finance_approval_above_usd,
            finance_only=budget is not None and budget.scope in (Scope.TEAM, Scope.COST_CENTER),
            exceeds_parent=budget is not None and bump_exceeds_parent(budget, amount_usd),
        )
        bump.save()
        AuditEvent.record(
            "budget_request.created",
            actor=requester,
            target=bump,
            amount_usd=str(amount_usd),
            **({"budget": str(budget)} if budget is not None else {"key": key.name}),
        )
        if bump.auto_approved:
            AuditEvent.record("budget_request.auto_approved", target=bump, limit_usd=str(policy.auto_approve_limit_usd))
            bump_apply(bump=bump, by=None)
        else:
            bump_announce(bump=bump)
    return bump


def bump_announce(*, bump: BudgetRequest) -> None:
    """In-app notice to whoever decides the next step, and a Slack message with buttons (outbox)."""
    from budgets.alerts import approval_alert_for

    notify(
        users=bump.next_approvers(),
        text=f"{bump.requester} asks for +{usd(bump.amount_usd)} on {bump.target_label}.",
        url=reverse("allocator:approvals"),
    )
    approval_alert_for(bump)


def bump_apply(*, bump: BudgetRequest, by: User | None) -> Budget | Key:
    """Raise the budget; when finance approved a bump past the team's budget, raise the parents to fit. A bump of
    a key's allowance raises the allowance (enforcement then reinstates the key if it has room)."""
    if bump.key_id is not None:
        return _allowance_apply(bump=bump, by=by)
    budget = Budget.objects.select_for_update().get(pk=bump.budget_id)
    _raise(budget, to=budget.amount_usd + bump.amount_usd, action="budget.bumped", bump=bump, by=by)
    record_crossed_thresholds(budget=budget)
    child = budget
    while (parent := parent_budget(child, lock=True)) is not None and bump.needs_finance:
        allocated, _ = allocation(parent=parent)
        if allocated <= parent.amount_usd:
            break
        _raise(parent, to=to_cents(allocated), action="budget.raised_for_bump", bump=bump, by=by)
        child = parent
    notify(
        users=[bump.requester],
        text=f"Your request for +{usd(bump.amount_usd)} on {budget.scope_label} was approved: "
        f"the budget is now {usd(budget.amount_usd)}.",
        url=budget.get_absolute_url(),
    )
    enforcement_enqueue()
    return budget


def _allowance_apply(*, bump: BudgetRequest, by: User | None) -> Key:
    previous = Key.objects.get(pk=bump.key_id).limit_usd or ZERO
    key = key_allowance_raise(key=bump.key, amount_usd=bump.amount_usd)
    AuditEvent.record(
        "key.allowance_raised",
        actor=by,
        target=key,
        request=bump.pk,
        previous_usd=str(previous),
        amount_usd=str(key.limit_usd),
    )
    notify(
        users=[bump.requester],
        text=f"Your request for +{usd(bump.amount_usd)} on the allowance of key {key.name} was approved: "
        f"it is now {usd(key.limit_usd)} a quarter.",
        url=key.get_absolute_url(),
    )
    return key


def _raise(budget: Budget, *, to: Decimal, action: str, bump: BudgetRequest, by: User | None) -> None:
    previous = budget.amount_usd
    budget.amount_usd = to
    budget.save(update_fields=["amount_usd", "updated_at"])
    AuditEvent.record(
        action, actor=by, target=budget, request=bump.pk, previous_usd=str(previous), amount_usd=str(budget.amount_usd)
    )


def bump_beyond_ceiling(*, target: Budget | Key, amount_usd: Decimal) -> str | None:
    """Why `amount_usd` more cannot go on a budget or a key's allowance (it would pass the ceiling of any amount),
    or None."""
    if isinstance(target, Key):
        held, noun = target.limit_usd or ZERO, "An allowance"
    else:
        held, noun = target.amount_usd, "A budget"
    if held + amount_usd > MAX_USD:
        return f"{noun} cannot go above {usd(MAX_USD)} a quarter; this one holds {usd(held)}."
    return None
