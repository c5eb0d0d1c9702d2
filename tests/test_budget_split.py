"""Setting and splitting budgets: finance sets cost centers and teams, a manager splits the team budget inline."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.quarters import Quarter
from budgets.models import Budget, Scope
from tests.budget_factories import cost_center_budget, project_budget, team_budget, user_budget
from tests.conftest import login

HX = {"HX-Request": "true"}


def _split(client, team, **data):
    return client.post(reverse("budgets:team_split", args=[team.pk]), data, headers=HX)


def test_manager_sets_a_project_budget_inline(policy, manager, team, project):
    team_budget(team, "1000")
    client = login(manager)

    edit = client.get(reverse("budgets:team_split", args=[team.pk]) + f"?project={project.pk}", headers=HX)
    assert edit.status_code == 200
    assert b'name="amount_usd"' in edit.content and b"<html" not in edit.content

    response = _split(client, team, project=project.pk, amount_usd="400", hard="1")
    assert response.status_code == 200
    assert f'id="row-project-{project.pk}"'.encode() in response.content
    assert b"$400" in response.content
    assert "budget-changed" in response.headers["HX-Trigger"]
    budget = Budget.objects.get(scope=Scope.PROJECT, project=project)
    assert (budget.amount_usd, budget.team, budget.set_by, budget.hard) == (Decimal("400.00"), team, manager, True)
    assert AuditEvent.objects.filter(action="budget.set", target_id=str(budget.pk)).exists()

    allocation = client.get(reverse("budgets:team", args=[team.pk]), headers=HX)
    assert b'id="allocation"' in allocation.content and b"<html" not in allocation.content
    assert b"$600.00" in allocation.content  # not split


def test_a_split_over_the_team_budget_is_refused_with_a_clear_message(policy, manager, engineer, team, project):
    team_budget(team, "500")
    project_budget(project, "300")
    response = _split(login(manager), team, user=engineer.pk, amount_usd="250", hard="1")
    assert response.status_code == 200
    assert b"would get $550.00" in response.content and b"$50.00 more than its $500.00 budget" in response.content
    assert not Budget.objects.filter(scope=Scope.USER).exists()


def test_budgets_are_rounded_half_up_to_cents(policy, manager, engineer, team):
    from budgets.allocation import budget_split

    budget = budget_split(team=team, by=manager, user=engineer, amount_usd=Decimal("10.005"), hard=False)
    budget.refresh_from_db()
    assert budget.amount_usd == Decimal("10.01") and not budget.hard
    assert _split(login(manager), team, user=engineer.pk, amount_usd="10.005").status_code == 200  # form: 2 places
    budget.refresh_from_db()
    assert budget.amount_usd == Decimal("10.01")


def test_engineers_cannot_split_and_outsiders_do_not_see_the_team(policy, engineer, outsider, team, project):
    assert _split(login(engineer), team, project=project.pk, amount_usd="1").status_code == 403
    assert _split(login(outsider), team, project=project.pk, amount_usd="1").status_code == 404
    assert not Budget.objects.exists()


def test_split_only_to_the_teams_projects_and_people(policy, manager, outsider, team, other_team):
    from tests.factories import ProjectFactory

    foreign = ProjectFactory(team=other_team)
    _split(login(manager), team, project=foreign.pk, amount_usd="10")
    _split(login(manager), team, user=outsider.pk, amount_usd="10")
    assert not Budget.objects.exists()


def test_finance_sets_a_team_budget_inline_on_the_overview(policy, finance, team):
    client = login(finance)
    response = client.post(reverse("budgets:set"), {"team": team.pk, "amount_usd": "2500", "hard": "0"}, headers=HX)
    assert response.status_code == 200
    assert f'id="row-team-{team.pk}"'.encode() in response.content and b"$2,500" in response.content
    budget = Budget.objects.get(scope=Scope.TEAM, team=team)
    assert budget.amount_usd == Decimal("2500.00") and not budget.hard and budget.quarter == Quarter.current().name


def test_managers_do_not_set_their_own_team_budget(policy, manager, team):
    assert login(manager).post(reverse("budgets:set"), {"team": team.pk, "amount_usd": "9999"}).status_code == 403


def test_team_budgets_may_not_exceed_the_cost_center(policy, finance, team, cost_center):
    from tests.factories import TeamFactory

    cost_center_budget(cost_center, "1000")
    team_budget(TeamFactory(cost_center=cost_center), "800")
    response = login(finance).post(reverse("budgets:set"), {"team": team.pk, "amount_usd": "300"}, headers=HX)
    assert b"$100.00 more than its $1,000.00 budget" in response.content
    assert not Budget.objects.filter(team=team).exists()


def test_a_team_budget_cannot_go_below_what_is_split(policy, finance, engineer, team):
    team_budget(team, "1000")
    user_budget(engineer, team, "700")
    response = login(finance).post(reverse("budgets:set"), {"team": team.pk, "amount_usd": "500"}, headers=HX)
    assert b"$700.00 of team Search is already split" in response.content
    assert Budget.objects.get(scope=Scope.TEAM).amount_usd == Decimal("1000.00")


def test_the_plain_form_works_without_javascript(policy, finance, team):
    client = login(finance)
    page = client.get(reverse("budgets:set"))
    assert f'value="team={team.pk}"'.encode() in page.content
    response = client.post(reverse("budgets:set"), {"scope_pick": f"team={team.pk}", "amount_usd": "750", "hard": "1"})
    assert response.status_code == 302
    assert Budget.objects.get(scope=Scope.TEAM, team=team).amount_usd == Decimal("750.00")


def test_copy_from_previous_quarter_after_confirmation(policy, finance, engineer, team, cost_center):
    previous = Quarter.current().previous()
    team_budget(team, "1000", quarter=previous)
    user_budget(engineer, team, "100", quarter=previous)
    cost_center_budget(cost_center, "5000", quarter=previous)
    team_budget(team, "1200")  # already set this quarter: kept
    client = login(finance)

    confirm = client.get(reverse("budgets:copy"))
    assert b"2</strong> of 3 budgets will be copied" in confirm.content
    assert Budget.objects.filter(quarter=Quarter.current().name).count() == 1

    client.post(reverse("budgets:copy"), {"quarter": Quarter.current().name})
    current = Budget.objects.filter(quarter=Quarter.current().name)
    assert current.count() == 3
    assert current.get(scope=Scope.TEAM).amount_usd == Decimal("1200.00")
    assert current.get(scope=Scope.USER).quarter_start == Quarter.current().start
    assert AuditEvent.objects.filter(action="budgets.copied").exists()


@pytest.mark.parametrize("role", ["engineer", "manager"])
def test_only_finance_copies(policy, cast, role):
    assert login(cast[role]).post(reverse("budgets:copy")).status_code == 403
