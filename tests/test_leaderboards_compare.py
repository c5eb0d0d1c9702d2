"""Quarter over quarter for a team and a cost center: rows equal direct sums, and who may open which."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from allocator.quarters import Quarter
from tests.board_helpers import direct_cost, rebuild, use
from tests.budget_factories import pinned_clock
from tests.conftest import login
from tests.factories import KeyFactory


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


@pytest.fixture
def usage(team, engineer, simulated):
    q, prev = Quarter.current(), Quarter.current().previous()
    key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    use(key, "30.00", day=q.start + timedelta(days=1))
    use(key, "10.00", day=prev.start + timedelta(days=1))
    use(key, "50.00", day=prev.last_day, model="gpt-4o")
    rebuild(q, prev)
    return q, prev


def test_team_comparison_numbers(manager, team, usage):
    q, prev = usage
    response = login(manager).get(reverse("budgets:compare_team", args=[team.pk]))
    assert response.status_code == 200
    people = response.context["sections"][0]
    erin = people.rows[0]
    assert erin.name == "Erin Engineer"
    assert erin.cost == direct_cost(q, team_id=team.pk)
    assert erin.same_day_cost == Decimal("10.00") and erin.previous_cost == direct_cost(prev, team_id=team.pk)
    models = {r.name: (r.cost, r.previous_cost) for r in response.context["sections"][2].rows}
    assert models == {"gpt-4o-mini": (Decimal("30.00"), Decimal("10.00")), "gpt-4o": (Decimal("0"), Decimal("50.00"))}
    html = response.content.decode()
    assert "+200\u00a0%" in html and "<svg" in html


def test_cost_center_comparison_lists_teams(finance, team, cost_center, usage):
    response = login(finance).get(reverse("budgets:compare_cost_center", args=[cost_center.pk]))
    teams = response.context["sections"][0].rows
    assert [(r.name, r.cost) for r in teams] == [("Search", Decimal("30.00"))]


@pytest.mark.parametrize(("role", "status"), [("engineer", 403), ("outsider", 404), ("finance", 200)])
def test_team_comparison_access(request, role, status, team, usage):
    client = login(request.getfixturevalue(role))
    assert client.get(reverse("budgets:compare_team", args=[team.pk])).status_code == status


def test_cost_center_comparison_is_for_finance_unless_policy_allows(manager, cost_center, usage):
    from budgets.models import BudgetPolicy

    url = reverse("budgets:compare_cost_center", args=[cost_center.pk])
    assert login(manager).get(url).status_code == 403
    BudgetPolicy.objects.filter(pk=BudgetPolicy.current().pk).update(managers_see_other_teams=True)
    assert login(manager).get(url).status_code == 200
