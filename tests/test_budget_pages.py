"""The pages: engineer home panel, finance overview, manager team page, one budget, alerts. Real client, real URLs."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from allocator.models import Key
from budgets.enforce import enforce_budgets
from tests.budget_factories import (
    AlertFactory,
    cost_center_budget,
    project_budget,
    simulated_key,
    spend,
    team_budget,
    user_budget,
)
from tests.conftest import login
from tests.factories import MembershipFactory, ProjectFactory, TeamFactory, UserFactory


def test_home_shows_my_budget_burn_down_and_forecast(policy, simulated, engineer, team):
    budget = user_budget(engineer, team, "200")
    team_budget(team, "5000", hard=False)
    spend(simulated_key(simulated, team=team, owner_user=engineer), "150")
    page = login(engineer).get(reverse("home"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "My budget" in html and "$200.00" in html and "$150.00" in html and "75&nbsp;% used" in html
    assert '<svg class="chart"' in html and "Remaining budget" in html
    assert "How the forecast works" in html
    assert f'<input type="hidden" name="budget" value="{budget.pk}">' in html  # one-step "ask for more"
    assert "All budgets your keys count against" in html and "Team Search" in html


def test_home_without_a_budget_says_so(policy, engineer):
    html = login(engineer).get(reverse("home")).content.decode()
    assert "No budget for you in" in html


def test_finance_overview_lists_cost_centers_and_teams(policy, finance, team, other_team, cost_center):
    cost_center_budget(cost_center, "10000")
    team_budget(team, "4000")
    html = login(finance).get(reverse("budgets:overview")).content.decode()
    assert "<strong>RND</strong> R&amp;D" in html and "<strong>PROD</strong> Product" in html
    assert ">Search</a>" in html and ">Growth</a>" in html
    assert "$10,000" in html and "Copy from" in html and "Set a budget" in html


def test_manager_overview_shows_only_their_teams(policy, manager, team, other_team):
    html = login(manager).get(reverse("budgets:overview")).content.decode()
    assert ">Search</a>" in html and "Growth" not in html
    assert "Set a budget" not in html


def test_team_page_shows_the_split_and_what_is_left(policy, simulated, manager, engineer, team, project):
    team_budget(team, "1000")
    project_budget(project, "300")
    user_budget(engineer, team, "200")
    spend(simulated_key(simulated, team=team, owner_project=project), "310")
    enforce_budgets()
    html = login(manager).get(reverse("budgets:team", args=[team.pk])).content.decode()
    assert "$500.00" in html  # split
    assert "over budget" in html and "Suspended keys" in html
    assert f'id="row-project-{project.pk}"' in html and f'id="row-user-{engineer.pk}"' in html


def test_budget_detail_for_the_owner_and_404_for_others(policy, engineer, outsider, manager, team):
    budget = user_budget(engineer, team, "100")
    url = reverse("budgets:detail", args=[budget.pk])
    assert login(engineer).get(url).status_code == 200
    assert login(manager).get(url).status_code == 200
    assert login(outsider).get(url).status_code == 404
    colleague = UserFactory()
    MembershipFactory(user=colleague, team=team)
    assert login(colleague).get(url).status_code == 404  # a colleague's personal budget


def test_alerts_page_shows_only_what_you_may_see(policy, engineer, outsider, team, other_team):
    AlertFactory(team=team, message="Team Search crossed 80 %")
    AlertFactory(team=other_team, message="Team Growth crossed 80 %")
    AlertFactory(team=team, user=outsider, message="Someone else's budget")
    html = login(engineer).get(reverse("budgets:alerts")).content.decode()
    assert "Team Search crossed" in html and "Growth" not in html and "Someone else" not in html
    assert "Team Growth crossed" in login(outsider).get(reverse("budgets:alerts")).content.decode()


def _grow(simulated, n: int) -> None:
    for _ in range(n):
        team = TeamFactory()
        team_budget(team, "1000")
        project = ProjectFactory(team=team)
        project_budget(project, "100")
        person = UserFactory()
        MembershipFactory(user=person, team=team)
        user_budget(person, team, "50")
        spend(simulated_key(simulated, team=team, owner_user=person), "20")
        AlertFactory(team=team)


def test_page_queries_do_not_grow_with_budgets(policy, simulated, finance, engineer, team):
    user_budget(engineer, team, "100")
    client = login(finance)
    _grow(simulated, 2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("budgets:overview"))
    _grow(simulated, 12)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("budgets:overview"))
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as home_few:
        login(engineer).get(reverse("home"))
    _grow(simulated, 5)
    with CaptureQueriesContext(connection) as home_many:
        login(engineer).get(reverse("home"))
    assert len(home_many) == len(home_few)


def test_suspended_key_state_is_shown_on_the_budget(policy, simulated, engineer, team):
    budget = user_budget(engineer, team, "10")
    key = simulated_key(simulated, team=team, owner_user=engineer, name="erin-dev")
    spend(key, "12")
    enforce_budgets()
    assert Key.objects.get(pk=key.pk).status == "suspended"
    html = login(engineer).get(reverse("budgets:detail", args=[budget.pk])).content.decode()
    assert "erin-dev" in html and "Suspended" in html and "Budget alert" not in html
