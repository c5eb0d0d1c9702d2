"""Budget allocation: set a budget, split a team's among its projects and people, copy a quarter forward, and the
parent / fits checks that keep every split inside the budget above it.

Who may do what (checked here, with accounts.permissions.Access, so every entry point gets the same rules):
- finance (and admin) set cost-center and team budgets and copy a quarter's budgets forward;
- a team's manager splits the team budget among its projects and people.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.models import AuditEvent, CostCenter, Membership, Project, Team, User
from accounts.permissions import Access
from allocator.money import ZERO, amount_error, sum_money, to_cents, usd
from allocator.quarters import Quarter
from budgets.models import Budget, Scope
from budgets.reports.models import QuarterClose
from budgets.thresholds import record_crossed_thresholds


def enforcement_enqueue() -> None:
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
    return to_cents(children.aggregate(total=sum_money("amount_usd"))["total"])


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
                f"The {what} {parent.scope_object} would get {usd(total)} in {budget.quarter}, "
                f"{usd(total - parent.amount_usd)} more than its {usd(parent.amount_usd)} budget. "
                "Lower another line first, or ask finance to raise the budget above it."
            )
    if budget.scope in (Scope.COST_CENTER, Scope.TEAM) and budget.pk:
        split = _children_total(parent=budget)
        if split > budget.amount_usd:
            raise ValidationError(
                f"{usd(split)} of {budget.scope_label} is already split among "
                f"{'its teams' if budget.scope == Scope.COST_CENTER else 'its projects and people'}; "
                f"the budget cannot go below that."
            )


def _find_budget(*, scope: str, quarter: Quarter, obj_id: int) -> Budget | None:
    return (
        Budget.objects.select_for_update().filter(scope=scope, quarter=quarter.name, **{f"{scope}_id": obj_id}).first()
    )


def _scope_of(
    *, cost_center: CostCenter | None, team: Team | None, project: Project | None, user: User | None
) -> tuple[str, dict]:
    """(scope, the budget's scope fields) for the one scope given; a person's budget names its team too."""
    if cost_center is not None:
        return Scope.COST_CENTER, {"cost_center": cost_center}
    if project is not None:
        return Scope.PROJECT, {"project": project, "team": project.team}
    if user is not None:
        if team is None:
            raise ValidationError("Say which team's budget this person's budget is part of.")
        if not Membership.objects.filter(user=user, team=team).exists():
            raise ValidationError(f"{user} is not a member of {team}.")
        return Scope.USER, {"user": user, "team": team}
    if team is not None:
        return Scope.TEAM, {"team": team}
    raise ValidationError("Choose what the budget is for.")


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
    if (problem := amount_error(amount_usd, allow_zero=True)) is not None:
        raise ValidationError("A budget cannot be negative." if problem.startswith("Enter an amount of") else problem)
    amount_usd = to_cents(amount_usd)
    scope, fields = _scope_of(cost_center=cost_center, team=team, project=project, user=user)
    team = fields.get("team")

    if scope in (Scope.COST_CENTER, Scope.TEAM):
        if not access.is_finance:
            raise PermissionDenied("Finance sets cost-center and team budgets.")
    elif not (access.is_finance or access.can_manage(team)):
        raise PermissionDenied("Only the team's manager or finance can split this budget.")
    if (closed := QuarterClose.refusal(quarter)) is not None:
        raise ValidationError(closed)

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
    enforcement_enqueue()
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
    if (closed := QuarterClose.refusal(quarter)) is not None:
        raise ValidationError(closed)
    previous = quarter.previous()
    count = budgets_copy_missing(source=previous, target=quarter, set_by=by)
    AuditEvent.record("budgets.copied", actor=by, source=previous.name, quarter=quarter.name, count=count)
    if count:
        enforcement_enqueue()
    return count


def budgets_copy_missing(*, source: Quarter, target: Quarter, set_by: User | None = None) -> int:
    """Copy each budget of `source` whose scope has none in `target` yet, and say how many. The copies name
    `set_by` as who set them (None: each keeps its original's). No audit event: callers record their own."""
    taken = {b.scope_key for b in Budget.objects.filter(quarter=target.name)}
    copies = [
        b.copy_to(target, set_by_id=b.set_by_id if set_by is None else set_by.pk)
        for b in Budget.objects.filter(quarter=source.name)
        if b.scope_key not in taken
    ]
    Budget.objects.bulk_create(copies)
    return len(copies)
