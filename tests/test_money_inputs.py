"""Every money input is bounded: an absurd amount re-renders the form with a message and saves nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from allocator.models import KeyRequest, Policy, ProviderAccount
from budgets.models import Budget, BudgetRequest
from tests.budget_factories import team_budget, user_budget
from tests.conftest import login
from tests.test_policy import VALID

ABSURD = ["999999999999", "1e30", "10000000.01", "NaN"]
HX = {"HX-Request": "true"}


def _says_no(response) -> None:
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert "Enter at most $10,000,000.00" in html or "Enter an amount in dollars" in html


@pytest.mark.parametrize("amount", ABSURD)
def test_a_bump_of_an_absurd_amount_is_refused(amount, policy, engineer, team):
    budget = user_budget(engineer, team, "100")
    browser = login(engineer)
    response = browser.post(reverse("budgets:bump_create"), {"budget": budget.pk, "amount_usd": amount, "reason": "x"})
    _says_no(response)
    assert not BudgetRequest.objects.exists()
    assert browser.get(reverse("home")).status_code == 200


@pytest.mark.parametrize("amount", ABSURD)
def test_budget_set_and_team_split_refuse_absurd_amounts(amount, policy, finance, manager, team, project):
    _says_no(login(finance).post(reverse("budgets:set"), {"team": team.pk, "amount_usd": amount, "hard": "1"}))
    assert not Budget.objects.exists()
    response = login(finance).post(reverse("budgets:set"), {"team": team.pk, "amount_usd": amount}, headers=HX)
    _says_no(response)
    team_budget(team, "1000")
    response = login(manager).post(
        reverse("budgets:team_split", args=[team.pk]), {"project": project.pk, "amount_usd": amount}, headers=HX
    )
    _says_no(response)
    assert Budget.objects.count() == 1


@pytest.mark.parametrize("amount", ABSURD)
def test_a_key_request_allowance_is_bounded(amount, policy, simulated, engineer, team):
    data = {"account": simulated.pk, "owner": "me", "team": team.pk, "name": "laptop", "purpose": "evals"}
    response = login(engineer).post(reverse("allocator:request_create"), {**data, "allowance_usd": amount})
    _says_no(response)
    assert not KeyRequest.objects.exists()


@pytest.mark.parametrize("field", ["default_allowance_usd", "auto_approve_limit_usd", "runaway_min_usd"])
def test_policy_amounts_are_bounded_and_not_negative(field, admin):
    browser = login(admin)
    _says_no(browser.post(reverse("allocator:policy"), {**VALID, field: "1e30"}))
    response = browser.post(reverse("allocator:policy"), {**VALID, field: "-5"})
    assert response.status_code == 200 and "Enter at least" in response.content.decode()
    assert Policy.current().auto_approve_limit_usd != 75


def test_provider_account_limits_are_bounded(admin):
    data = {"kind": "simulated", "name": "Sim", "enabled": "on", "auto_approve_limit_usd": "999999999999"}
    _says_no(login(admin).post(reverse("allocator:account_create"), data))
    assert not ProviderAccount.objects.exists()


def test_an_import_limit_is_bounded(admin, engineer, team, simulated):
    url = reverse("allocator:account_import_key", args=[simulated.pk])
    data = {"provider_key_id": "simkey_1", "owner_user": engineer.pk, "team": team.pk, "limit_usd": "1e30"}
    response = login(admin).post(url, data, follow=True)
    assert "Could not import" in response.content.decode() and "Enter an amount in dollars" in response.content.decode()
