"""Budget requests (bumps): ask for more on a budget, routed by policy like key requests; an approved bump raises
the budget (and, when finance approved one past the team's budget, the parents to fit). Deciding is
allocator.approvals.

Anyone asks for a bump of their own budget, their team's project budgets, or (managers) their team's budget.
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
from allocator.models import PURPOSE_MAX_LENGTH, Policy, amount_error
from allocator.money import MAX_USD, ZERO, to_cents, usd
from allocator.quarters import Quarter
from budgets.allocation import allocation, enforcement_enqueue, parent_budget
from budgets.models import Budget, BudgetRequest, Scope
from budgets.thresholds import record_crossed_thresholds


def bumpable_budgets(user: User, *, quarter: Quarter | None = None):
    """Budgets this person may ask more for: their own, their teams' projects, and (managers) their teams'."""
    access = Access(user)
    quarter = quarter or Quarter.current()
    q = Q(scope=Scope.USER, user=user) | Q(scope=Scope.PROJECT, team_id__in=access.team_ids)
    q |= Q(scope=Scope.TEAM, team_id__in=access.managed_team_ids)
    return Budget.objects.filter(q, quarter=quarter.name).select_related("team", "project", "user", "cost_center")


def bump_exceeds_parent(budget: Budget, extra: Decimal) -> bool:
    """Would `extra` on `budget` take its team past the team's budget (then finance decides too)?"""
    parent = parent_budget(budget)
    if parent is None or budget.scope == Scope.TEAM:
        return False  # team bumps are finance's own decision anyway
    allocated, _ = allocation(parent=parent)
    return allocated + extra > parent.amount_usd


def budget_request_create(*, requester: User, budget: Budget, amount_usd: Decimal, reason: str) -> BudgetRequest:
    """Ask for `amount_usd` more on `budget` this quarter; routed by policy like key requests."""
    errors: dict[str, str] = {}
    if (problem := amount_error(ZERO if amount_usd is None else amount_usd)) is not None:
        errors["amount_usd"] = "Ask for more than $0." if problem.endswith("more than $0.") else problem
    else:
        amount_usd = to_cents(amount_usd)
        if (problem := bump_beyond_ceiling(budget=budget, amount_usd=amount_usd)) is not None:
            errors["amount_usd"] = problem
    if not reason.strip():
        errors["reason"] = "Say what the extra budget is for."
    elif len(reason.strip()) > PURPOSE_MAX_LENGTH:
        errors["reason"] = f"Keep the reason to at most {PURPOSE_MAX_LENGTH:,} characters."
    if budget.quarter != Quarter.current().name:
        errors["budget"] = f"That budget is for {budget.quarter}; bumps are for the current quarter."
    elif not bumpable_budgets(requester).filter(pk=budget.pk).exists():
        errors["budget"] = "You can ask for more only on your own, your projects' or (as manager) your team's budget."
    elif BudgetRequest.objects.filter(budget=budget, requester=requester, state=BudgetRequest.State.PENDING).exists():
        errors["budget"] = "You already have a request waiting for this budget."
    if errors:
        raise ValidationError(errors)

    policy = Policy.current()
    with transaction.atomic():
        bump = BudgetRequest(
            budget=budget, requester=requester, team_id=budget.team_id, amount_usd=amount_usd, reason=reason.strip()
        )
        bump.submit(
            auto_limit=policy.auto_approve_limit_usd,
            finance_above=policy.finance_approval_above_usd,
            finance_only=budget.scope in (Scope.TEAM, Scope.COST_CENTER),
            exceeds_parent=bump_exceeds_parent(budget, amount_usd),
        )
        bump.save()
        AuditEvent.record(
            "budget_request.created", actor=requester, target=bump, amount_usd=str(amount_usd), budget=str(budget)
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
        text=f"{bump.requester} asks for +{usd(bump.amount_usd)} on {bump.budget.scope_label} ({bump.budget.quarter}).",
        url=reverse("allocator:approvals"),
    )
    approval_alert_for(bump)


def bump_apply(*, bump: BudgetRequest, by: User | None) -> Budget:
    """Raise the budget; when finance approved a bump past the team's budget, raise the parents to fit."""
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


def _raise(budget: Budget, *, to: Decimal, action: str, bump: BudgetRequest, by: User | None) -> None:
    previous = budget.amount_usd
    budget.amount_usd = to
    budget.save(update_fields=["amount_usd", "updated_at"])
    AuditEvent.record(
        action, actor=by, target=budget, request=bump.pk, previous_usd=str(previous), amount_usd=str(budget.amount_usd)
    )


def bump_beyond_ceiling(*, budget: Budget, amount_usd: Decimal) -> str | None:
    """Why `amount_usd` more cannot go on `budget` (it would pass the ceiling of any amount), or None."""
    if budget.amount_usd + amount_usd > MAX_USD:
        return f"A budget cannot go above {usd(MAX_USD)} a quarter; this one holds {usd(budget.amount_usd)}."
    return None
