"""A manager's list of every key in their teams (finance and admins: every team): owner, status, spend this
quarter, the key's allowance and its owner's budget. Sortable, filtered by team and status, read a page at a time
(a fixed number of queries, whatever the number of keys)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf

from accounts.models import Team
from accounts.permissions import Access
from allocator.models import DailyRollup, Key
from allocator.money import ZERO, sum_money
from allocator.quarters import Quarter
from budgets.forecast import percent_of
from budgets.models import Budget, Scope
from budgets.spend import with_quarter_spend

# ?sort= value → ordering (a leading "-" on the value reverses it); the first is the default.
SORTS: dict[str, tuple[str, ...]] = {
    "spend": ("-spend_usd", "name"),
    "name": ("name", "pk"),
    "owner": ("owner_name", "name"),
    "team": ("team__name", "name"),
    "status": ("status", "name"),
    "allowance": ("-limit_usd", "name"),
    "created": ("-created_at",),
}
DEFAULT_SORT = "spend"


@dataclass
class BudgetState:
    """The key owner's own budget (a person's or a project's) in the quarter, and its spend."""

    budget: Budget
    spend: Decimal

    @property
    def percent(self) -> Decimal:
        return percent_of(self.spend, self.budget.amount_usd)

    @property
    def status(self) -> str:
        return "over" if self.spend >= self.budget.amount_usd else "warn" if self.percent >= 80 else "ok"


def visible_teams(access: Access) -> QuerySet[Team]:
    teams = Team.objects.select_related("cost_center").order_by("name")
    return teams if access.sees_everything else teams.filter(pk__in=access.managed_team_ids)


def team_keys(*, team_ids: list[int] | None, status: str, sort: str, quarter: Quarter) -> QuerySet[Key]:
    """Keys of these teams (None: every team), with `spend_usd` for the quarter and `owner_name`, sorted."""
    keys = Key.objects.all() if team_ids is None else Key.objects.filter(team_id__in=team_ids)
    if status:
        keys = keys.filter(status=status)
    keys = keys.select_related("account", "owner_user", "owner_project", "team", "enforcement").annotate(
        owner_name=Coalesce(
            NullIf(F("owner_user__full_name"), Value("")),
            F("owner_user__email"),
            F("owner_project__name"),
            output_field=CharField(),
        )
    )
    descending = sort.startswith("-")
    order = SORTS.get(sort.lstrip("-"), SORTS[DEFAULT_SORT])
    if descending:
        order = tuple(o[1:] if o.startswith("-") else f"-{o}" for o in order)
    return with_quarter_spend(keys, quarter=quarter).order_by(*order)


def budget_states(keys: list[Key], quarter: Quarter) -> dict[int, BudgetState]:
    """Key pk → its owner's budget state, for one page of keys (two queries)."""
    users = {k.owner_user_id for k in keys if k.owner_user_id}
    projects = {k.owner_project_id for k in keys if k.owner_project_id}
    if not users and not projects:
        return {}
    budgets = Budget.objects.filter(quarter=quarter.name).filter(
        Q(scope=Scope.USER, user_id__in=users) | Q(scope=Scope.PROJECT, project_id__in=projects)
    )
    by_owner = {(b.scope, b.user_id or b.project_id): b for b in budgets}
    if not by_owner:
        return {}
    rows = (
        DailyRollup.objects.filter(day__gte=quarter.start, day__lt=quarter.end)
        .filter(Q(owner_user_id__in=users) | Q(owner_project_id__in=projects))
        .values("owner_user", "owner_project")
        .annotate(total=sum_money("cost_usd"))
        .order_by()
    )
    spend: dict[tuple[str, int], Decimal] = {}
    for row in rows:
        owner = (Scope.USER, row["owner_user"]) if row["owner_user"] else (Scope.PROJECT, row["owner_project"])
        spend[owner] = spend.get(owner, ZERO) + row["total"]
    states = {}
    for key in keys:
        owner = (Scope.USER, key.owner_user_id) if key.owner_user_id else (Scope.PROJECT, key.owner_project_id)
        if owner in by_owner:
            states[key.pk] = BudgetState(by_owner[owner], spend.get(owner, ZERO))
    return states
