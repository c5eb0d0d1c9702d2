"""A manager's list of every key in their teams (finance and admins: every team): owner, status, spend this
quarter (from the usage summaries), the key's allowance and its owner's budget. Sortable, filtered by team and
status, read a page at a time (a fixed number of queries, whatever the number of keys)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf

from accounts.models import Team
from accounts.permissions import Access
from allocator.models import Key
from allocator.money import ZERO
from allocator.quarters import Quarter
from allocator.usage.models import SummaryKind
from allocator.usage.summaries import scope_totals, usage_totals
from budgets.forecast import percent_of
from budgets.models import Budget, Scope

# ?sort= value → ordering (a leading "-" on the value reverses it); the first is the default.
SORTS: dict[str, tuple[str, ...]] = {
    "spend": (),  # largest first, sorted on the summaries' numbers (see team_key_page)
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


def _key_spend(quarter: Quarter, key_ids: list[int] | None) -> dict[int, Decimal]:
    """Quarter spend per key from the usage summaries (one query; None: every key)."""
    rows = usage_totals(quarter=quarter, kind=SummaryKind.KEY, refs=key_ids)
    return {int(row["ref"]): row["cost_usd"] for row in rows}


def _with_owner(keys: QuerySet[Key]) -> QuerySet[Key]:
    return keys.select_related("account", "owner_user", "owner_project", "team", "enforcement").annotate(
        owner_name=Coalesce(
            NullIf(F("owner_user__full_name"), Value("")),
            F("owner_user__email"),
            F("owner_project__name"),
            output_field=CharField(),
        )
    )


def team_key_page(
    *, team_ids: list[int] | None, status: str, sort: str, quarter: Quarter, page: str | None, per_page: int = 50
) -> Page:
    """One page of the keys of these teams (None: every team), each with `spend_usd` for the quarter and
    `owner_name`, sorted by `sort` (a SORTS name, "-" in front reverses it; anything else sorts by spend).

    Spend comes from the usage summaries: sorting by it reads the ids and names of every key listed and their
    spend (two queries), then loads the one page of keys; other sorts page in SQL and read the page's spend."""
    keys = Key.objects.all() if team_ids is None else Key.objects.filter(team_id__in=team_ids)
    if status:
        keys = keys.filter(status=status)
    column, descending = sort.lstrip("-"), sort.startswith("-")
    if column not in SORTS:
        column, descending = DEFAULT_SORT, False
    if column == "spend":
        ids = list(keys.values_list("pk", "name").order_by())
        spend = _key_spend(quarter, None if team_ids is None else [pk for pk, _ in ids])
        ids.sort(key=lambda row: (-spend.get(row[0], ZERO), row[1], row[0]), reverse=descending)
        result = Paginator([pk for pk, _ in ids], per_page).get_page(page)
        loaded = {key.pk: key for key in _with_owner(keys.filter(pk__in=list(result)))}
        result.object_list = [loaded[pk] for pk in result]
    else:
        order = SORTS[column]
        if descending:
            order = tuple(o[1:] if o.startswith("-") else f"-{o}" for o in order)
        result = Paginator(_with_owner(keys).order_by(*order), per_page).get_page(page)
        spend = _key_spend(quarter, [key.pk for key in result])
    for key in result:
        key.spend_usd = spend.get(key.pk, ZERO)
    return result


def budget_states(keys: list[Key], quarter: Quarter) -> dict[int, BudgetState]:
    """Key pk → its owner's budget state, for one page of keys (two queries: budgets, their summaries)."""
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
    totals = scope_totals(quarter=quarter, scope_keys=[b.scope_key for b in by_owner.values()])
    spend = {owner: totals.get(b.scope_key, {}).get("cost_usd", ZERO) for owner, b in by_owner.items()}
    states = {}
    for key in keys:
        owner = (Scope.USER, key.owner_user_id) if key.owner_user_id else (Scope.PROJECT, key.owner_project_id)
        if owner in by_owner:
            states[key.pk] = BudgetState(by_owner[owner], spend.get(owner, ZERO))
    return states
