"""seed_demo_budgets: sized from recorded usage, idempotent, and the demo story holds (Erin over a hard budget)."""

from __future__ import annotations

from decimal import Decimal

import time_machine
from django.core.management import call_command

from allocator.models import Key
from allocator.quarters import Quarter
from budgets.enforce import enforce_budgets
from budgets.models import Budget, Scope
from budgets.spend import scope_spend
from tests.budget_factories import MID_QUARTER, simulated_key, spend
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


# The spend recorded today and the budgets seeded from it fall in one quarter, however close to its end the run is.
@time_machine.travel(MID_QUARTER, tick=True)
def test_demo_budgets_put_erin_over_and_are_idempotent(policy, simulated, engineer, manager, team, project, finance):
    erin_key = simulated_key(simulated, team=team, owner_user=engineer)
    spend(erin_key, "104")
    spend(simulated_key(simulated, team=team, owner_project=project), "300")
    for _ in range(3):
        person = UserFactory()
        MembershipFactory(user=person, team=team)
        spend(simulated_key(simulated, team=team, owner_user=person), "50")
    ProjectFactory(team=team)  # no usage yet: gets a default budget

    call_command("seed_demo_budgets")
    quarter = Quarter.current()
    current = Budget.objects.filter(quarter=quarter.name)
    erin = current.get(scope=Scope.USER, user=engineer)
    assert erin.hard and erin.amount_usd == Decimal("100.00")  # $104 spent: 104 %
    assert current.filter(scope=Scope.TEAM, team=team).exists()
    assert current.filter(scope=Scope.COST_CENTER).exists()
    assert current.filter(scope=Scope.PROJECT).count() == 2
    assert Budget.objects.filter(quarter=quarter.previous().name).count() == current.count()

    team_budget = current.get(scope=Scope.TEAM, team=team)
    slices = sum(b.amount_usd for b in current.filter(scope__in=[Scope.PROJECT, Scope.USER], team=team))
    assert slices <= team_budget.amount_usd  # the split fits
    spent = scope_spend(quarter=quarter)
    assert spent[team_budget.scope_key] < team_budget.amount_usd

    before = list(current.order_by("pk").values_list("pk", "amount_usd"))
    call_command("seed_demo_budgets")
    assert list(Budget.objects.filter(quarter=quarter.name).order_by("pk").values_list("pk", "amount_usd")) == before

    enforce_budgets()
    erin_key.refresh_from_db()
    assert erin_key.status == Key.Status.SUSPENDED
