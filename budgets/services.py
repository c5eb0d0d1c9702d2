"""Budgets and budget requests (bumps). Views, the Slack endpoint and tasks all call these.

Who may do what (checked here, with accounts.permissions.Access, so every entry point gets the same rules):
- finance (and admin) set cost-center and team budgets and copy a quarter's budgets forward;
- a team's manager splits the team budget among its projects and people;
- anyone asks for a bump of their own budget, their team's project budgets, or (managers) their team's budget.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse

from accounts.models import AuditEvent, CostCenter, Membership, Project, Team, User
from accounts.permissions import Access
from accounts.services import finance_people, notify, team_managers
from allocator.models import InvalidTransition, Policy
from allocator.money import to_cents
from allocator.quarters import Quarter
from budgets.models import Budget, BudgetRequest, Scope
from budgets.thresholds import record_crossed_thresholds

ZERO = Decimal("0")


def _usd(value: Decimal) -> str:
    return f"${to_cents(value):,}"


def _enqueue_enforcement() -> None:
    """Run enforcement after the transaction commits: a changed budget may suspend or reinstate keys."""
    from budgets.tasks import enforce_budgets

    transaction.on_commit(enforce_budgets.delay)


def _children_total(*, parent: Budget, excluding: Budget | None = None) -> Decimal:
    """What a cost center's teams, or a team's projects and people, hold in the parent's quarter."""
    if parent.scope == Scope.COST_CENTER:
        children = Budget.objects.filter(scope=Scope.TEAM, team__cost_center_id=parent.cost_center_id)
    else:
        children = Budget.objects.filter(scope__in=[Scope.PROJECT, Scope.USER], team_id=parent.team_id)
    children = children.filter(quarter=parent.quarter)
    if excluding is not None and excluding.pk:
        children = children.exclude(pk=excluding.pk)
    money = DecimalField(max_digits=14, decimal_places=2)
    return children.aggregate(total=Coalesce(Sum("amount_usd"), Value(ZERO), output_field=money))["total"]


def parent_budget(budget: Budget, *, lock: bool = False) -> Budget | None:
    """The budget this one is a slice of: a team's for projects and people, a cost center's for teams."""
    qs = Budget.objects.select_for_update() if lock else Budget.objects.all()
    if budget.scope in (Scope.PROJECT, Scope.USER):
        return qs.filter(scope=Scope.TEAM, team_id=budget.team_id, quarter=budget.quarter).first()
    if budget.scope == Scope.TEAM:
        return qs.filter(
            scope=Scope.COST_CENTER, cost_center_id=budget.team.cost_center_id, quarter=budget.quarter
        ).first()
    return None


def allocation(*, parent: Budget) -> tuple[Decimal, Decimal]:
    """(allocated to children, unallocated) of a team or cost-center budget."""
    allocated = _children_total(parent=parent)
    return allocated, parent.amount_usd - allocated


def split_totals(*, quarter: Quarter) -> dict[str, Decimal]:
    """Allocated amount under every cost center (its teams) and team (its projects and people), one query."""
    totals: dict[str, Decimal] = {}
    rows = Budget.objects.filter(quarter=quarter.name, scope__in=[Scope.TEAM, Scope.PROJECT, Scope.USER]).values(
        "scope", "team_id", "team__cost_center_id", "amount_usd"
    )
    for row in rows:
        if row["scope"] == Scope.TEAM:
            parent = f"{Scope.COST_CENTER}:{row['team__cost_center_id']}"
        else:
            parent = f"{Scope.TEAM}:{row['team_id']}"
        totals[parent] = totals.get(parent, ZERO) + row["amount_usd"]
    return totals


def _check_fits(budget: Budget) -> None:
    """Refuse a budget that takes its parent past its amount, or a parent below what it already split."""
    parent = parent_budget(budget, lock=True)
    if parent is not None:
        total = _children_total(parent=parent, excluding=budget) + budget.amount_usd
        if total > parent.amount_usd:
            what = "teams in" if parent.scope == Scope.COST_CENTER else "projects and people of"
            raise ValidationError(
                f"The {what} {parent.scope_object} would get {_usd(total)} in {budget.quarter}, "
                f"{_usd(total - parent.amount_usd)} more than its {_usd(parent.amount_usd)} budget. "
                "Lower another line first, or ask finance to raise the budget above it."
            )
    if budget.scope in (Scope.COST_CENTER, Scope.TEAM) and budget.pk:
        split = _children_total(parent=budget)
        if split > budget.amount_usd:
            raise ValidationError(
                f"{_usd(split)} of {budget.scope_label} is already split among "
                f"{'its teams' if budget.scope == Scope.COST_CENTER else 'its projects and people'}; "
                f"the budget cannot go below that."
            )


def _find_budget(*, scope: str, quarter: Quarter, obj_id: int) -> Budget | None:
    return (
        Budget.objects.select_for_update().filter(scope=scope, quarter=quarter.name, **{f"{scope}_id": obj_id}).first()
    )


@transaction.atomic
def budget_set(
    *,
    by: User,
    quarter: Quarter,
    amount_usd: Decimal,
    hard: bool = True,
    cost_center: CostCenter | None = None,
    team: Team | None = None,
    project: Project | None = None,
    user: User | None = None,
) -> Budget:
    """Create or change one budget for `quarter`.

    Give exactly one scope: `cost_center`, `team` (alone), `project`, or `user` together with `team` (the team
    whose budget the person's is a slice of). Finance sets cost-center and team budgets; the team's manager sets
    project and people budgets. A split may not exceed the budget above it.
    """
    access = Access(by)
    amount_usd = to_cents(amount_usd)
    if amount_usd < 0:
        raise ValidationError("A budget cannot be negative.")
    if cost_center is not None:
        scope, fields = Scope.COST_CENTER, {"cost_center": cost_center}
    elif project is not None:
        scope, fields = Scope.PROJECT, {"project": project, "team": project.team}
        team = project.team
    elif user is not None:
        if team is None:
            raise ValidationError("Say which team's budget this person's budget is part of.")
        if not Membership.objects.filter(user=user, team=team).exists():
            raise ValidationError(f"{user} is not a member of {team}.")
        scope, fields = Scope.USER, {"user": user, "team": team}
    elif team is not None:
        scope, fields = Scope.TEAM, {"team": team}
    else:
        raise ValidationError("Choose what the budget is for.")

    if scope in (Scope.COST_CENTER, Scope.TEAM):
        if not access.is_finance:
            raise PermissionDenied("Finance sets cost-center and team budgets.")
    elif not (access.is_finance or access.can_manage(team)):
        raise PermissionDenied("Only the team's manager or finance can split this budget.")

    scope_obj = fields[scope]
    budget = _find_budget(scope=scope, quarter=quarter, obj_id=scope_obj.pk)
    previous = budget.amount_usd if budget else None
    if budget is None:
        budget = Budget(scope=scope, quarter=quarter.name, quarter_start=quarter.start, **fields)
    elif scope == Scope.USER and budget.team_id != team.pk:
        budget.team = team
    budget.amount_usd, budget.hard, budget.set_by = amount_usd, hard, by
    _check_fits(budget)
    budget.save()
    if previous is not None and previous != amount_usd:
        record_crossed_thresholds(budget=budget)
    AuditEvent.record(
        "budget.set",
        actor=by,
        target=budget,
        amount_usd=str(amount_usd),
        previous_usd=str(previous) if previous is not None else None,
        hard=hard,
        quarter=quarter.name,
    )
    _enqueue_enforcement()
    return budget


def budget_split(
    *,
    team: Team,
    by: User,
    amount_usd: Decimal,
    hard: bool = True,
    project: Project | None = None,
    user: User | None = None,
    quarter: Quarter | None = None,
) -> Budget:
    """A manager gives one of the team's projects or people a slice of the team budget."""
    if (project is None) == (user is None):
        raise ValidationError("Split to exactly one project or person.")
    if project is not None and project.team_id != team.pk:
        raise ValidationError("That project belongs to another team.")
    return budget_set(
        by=by,
        quarter=quarter or Quarter.current(),
        amount_usd=amount_usd,
        hard=hard,
        project=project,
        user=user,
        team=team if user is not None else None,
    )


@transaction.atomic
def budgets_copy_from_previous_quarter(*, quarter: Quarter, by: User) -> int:
    """Copy every budget of the quarter before `quarter` whose scope has none in `quarter` yet."""
    if not Access(by).is_finance:
        raise PermissionDenied("Finance copies budgets between quarters.")
    previous = quarter.previous()
    taken = {b.scope_key for b in Budget.objects.filter(quarter=quarter.name)}
    copies = [
        Budget(
            scope=b.scope,
            cost_center_id=b.cost_center_id,
            team_id=b.team_id,
            project_id=b.project_id,
            user_id=b.user_id,
            quarter=quarter.name,
            quarter_start=quarter.start,
            amount_usd=b.amount_usd,
            hard=b.hard,
            set_by=by,
        )
        for b in Budget.objects.filter(quarter=previous.name)
        if b.scope_key not in taken
    ]
    Budget.objects.bulk_create(copies)
    AuditEvent.record("budgets.copied", actor=by, source=previous.name, quarter=quarter.name, count=len(copies))
    if copies:
        _enqueue_enforcement()
    return len(copies)


# --- Bumps ------------------------------------------------------------------------------------------------


def bumpable_budgets(user: User, *, quarter: Quarter | None = None):
    """Budgets this person may ask more for: their own, their teams' projects, and (managers) their teams'."""
    access = Access(user)
    quarter = quarter or Quarter.current()
    q = Q(scope=Scope.USER, user=user) | Q(scope=Scope.PROJECT, team_id__in=access.team_ids)
    q |= Q(scope=Scope.TEAM, team_id__in=access.managed_team_ids)
    return Budget.objects.filter(q, quarter=quarter.name).select_related("team", "project", "user", "cost_center")


def _exceeds_parent(budget: Budget, extra: Decimal) -> bool:
    parent = parent_budget(budget)
    if parent is None or budget.scope == Scope.TEAM:
        return False  # team bumps are finance's own decision anyway
    allocated, _ = allocation(parent=parent)
    return allocated + extra > parent.amount_usd


def budget_request_create(*, requester: User, budget: Budget, amount_usd: Decimal, reason: str) -> BudgetRequest:
    """Ask for `amount_usd` more on `budget` this quarter; routed by policy like key requests."""
    amount_usd = to_cents(amount_usd) if amount_usd is not None else ZERO
    errors: dict[str, str] = {}
    if amount_usd <= 0:
        errors["amount_usd"] = "Ask for more than $0."
    if not reason.strip():
        errors["reason"] = "Say what the extra budget is for."
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
            exceeds_parent=_exceeds_parent(budget, amount_usd),
        )
        bump.save()
        AuditEvent.record(
            "budget_request.created", actor=requester, target=bump, amount_usd=str(amount_usd), budget=str(budget)
        )
        if bump.auto_approved:
            AuditEvent.record("budget_request.auto_approved", target=bump, limit_usd=str(policy.auto_approve_limit_usd))
            _apply_bump(bump, by=None)
        else:
            _announce_waiting(bump)
    return bump


def _announce_waiting(bump: BudgetRequest) -> None:
    """In-app notice to whoever decides the next step, and a Slack message with buttons (outbox)."""
    from budgets.alerts import approval_alert_for

    approvers = finance_people() if bump.awaiting_step == BudgetRequest.Step.FINANCE else team_managers(bump.team)
    notify(
        users=[u for u in approvers if u.pk != bump.requester_id],
        text=f"{bump.requester} asks for +{_usd(bump.amount_usd)} on {bump.budget.scope_label} "
        f"({bump.budget.quarter}).",
        url=reverse("allocator:approvals"),
    )
    approval_alert_for(bump)


def _apply_bump(bump: BudgetRequest, *, by: User | None) -> Budget:
    """Raise the budget; when finance approved a bump past the team's budget, raise the parents to fit."""
    budget = Budget.objects.select_for_update().get(pk=bump.budget_id)
    previous = budget.amount_usd
    budget.amount_usd = previous + bump.amount_usd
    budget.save(update_fields=["amount_usd", "updated_at"])
    record_crossed_thresholds(budget=budget)
    AuditEvent.record(
        "budget.bumped",
        actor=by,
        target=budget,
        request=bump.pk,
        previous_usd=str(previous),
        amount_usd=str(budget.amount_usd),
    )
    child = budget
    while (parent := parent_budget(child, lock=True)) is not None and bump.needs_finance:
        allocated, _ = allocation(parent=parent)
        if allocated <= parent.amount_usd:
            break
        old = parent.amount_usd
        parent.amount_usd = to_cents(allocated)
        parent.save(update_fields=["amount_usd", "updated_at"])
        AuditEvent.record(
            "budget.raised_for_bump",
            actor=by,
            target=parent,
            request=bump.pk,
            previous_usd=str(old),
            amount_usd=str(parent.amount_usd),
        )
        child = parent
    notify(
        users=[bump.requester],
        text=f"Your request for +{_usd(bump.amount_usd)} on {budget.scope_label} was approved: "
        f"the budget is now {_usd(budget.amount_usd)}.",
        url=budget.get_absolute_url(),
    )
    _enqueue_enforcement()
    return budget


@transaction.atomic
def budget_request_approve(*, budget_request: BudgetRequest, by: User) -> BudgetRequest:
    """Approve the step the request waits for; the final approval raises the budget and reinstates keys."""
    bump = (
        BudgetRequest.objects.select_for_update(of=("self",)).select_related("budget", "team").get(pk=budget_request.pk)
    )
    if not Access(by).can_approve(bump):
        raise PermissionDenied("You cannot approve this request.")
    if bump.state == BudgetRequest.State.PENDING and bump.budget.quarter != Quarter.current().name:
        raise InvalidTransition(f"This request was for {bump.budget.quarter}, which is over. Ask again for this one.")
    step = bump.awaiting_step
    if step == BudgetRequest.Step.MANAGER and not bump.needs_finance and _exceeds_parent(bump.budget, bump.amount_usd):
        # The team's unallocated money ran out since the request was made: finance decides too.
        bump.needs_finance = True
    bump.approve(by=by)
    bump.save()
    AuditEvent.record(f"budget_request.approved_{step}", actor=by, target=bump)
    if bump.state == BudgetRequest.State.APPROVED:
        _apply_bump(bump, by=by)
    else:
        _announce_waiting(bump)
    return bump


@transaction.atomic
def budget_request_reject(*, budget_request: BudgetRequest, by: User, reason: str) -> BudgetRequest:
    bump = BudgetRequest.objects.select_for_update(of=("self",)).select_related("budget").get(pk=budget_request.pk)
    if not Access(by).can_approve(bump):
        raise PermissionDenied("You cannot decide this request.")
    bump.reject(by=by, reason=reason)
    bump.save()
    AuditEvent.record("budget_request.rejected", actor=by, target=bump, reason=bump.decision_reason)
    notify(
        users=[bump.requester],
        text=f"Your request for +{_usd(bump.amount_usd)} on {bump.budget.scope_label} was rejected by {by}: "
        f"{bump.decision_reason}",
        url=bump.get_absolute_url(),
    )
    return bump


@transaction.atomic
def budget_request_cancel(*, budget_request: BudgetRequest, by: User) -> BudgetRequest:
    bump = BudgetRequest.objects.select_for_update().get(pk=budget_request.pk)
    if not Access(by).can_act_as_owner(bump):
        raise PermissionDenied("Only the requester can cancel this request.")
    bump.cancel(by=by)
    bump.save()
    AuditEvent.record("budget_request.cancelled", actor=by, target=bump)
    return bump
