"""One visibility rule for keys and bumps on every page; timelines name their events; caps show their amount."""

from __future__ import annotations

from django.urls import reverse

from budgets.models import KeyEnforcement
from tests.budget_factories import BudgetRequestFactory, simulated_key, team_budget
from tests.conftest import login


def test_team_budget_page_hides_colleagues_personal_keys_and_bumps(policy, simulated, engineer, manager, team):
    budget = team_budget(team, "1000")
    colleague_key = simulated_key(simulated, team=team, owner_user=manager, name="managers-laptop")
    own_key = simulated_key(simulated, team=team, owner_user=engineer, name="my-laptop")
    BudgetRequestFactory(requester=manager, team=team, budget=budget, reason="secret offsite plans")
    browser = login(engineer)
    assert browser.get(colleague_key.get_absolute_url()).status_code == 404
    html = browser.get(reverse("budgets:detail", args=[budget.pk])).content.decode()
    assert "my-laptop" in html
    assert "managers-laptop" not in html and "secret offsite plans" not in html
    manager_html = login(manager).get(reverse("budgets:detail", args=[budget.pk])).content.decode()
    assert "managers-laptop" in manager_html and "my-laptop" in manager_html and "secret offsite plans" in manager_html
    assert login(engineer).get(own_key.get_absolute_url()).status_code == 200


def test_key_request_timeline_names_its_events(
    policy, simulated, engineer, manager, team, django_capture_on_commit_callbacks
):
    browser = login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            reverse("allocator:request_create"),
            {
                "account": simulated.pk,
                "owner": "me",
                "team": team.pk,
                "name": "laptop",
                "purpose": "evals",
                "allowance_usd": "500",
                "submit": "1",
            },
        )
    assert response.status_code == 302
    html = browser.get(response["Location"]).content.decode()
    assert '<strong title="key_request.created">Requested</strong>' in html


def test_budget_detail_shows_the_provider_cap_amount_only_where_there_is_one(policy, simulated, finance, team):
    budget = team_budget(team, "1000")
    capped = simulated_key(simulated, team=team, owner_user=finance, name="capped")
    simulated_key(simulated, team=team, owner_user=finance, name="uncapped")
    KeyEnforcement.objects.create(key=capped, provider_limit_usd="25.50")
    html = login(finance).get(reverse("budgets:detail", args=[budget.pk])).content.decode()
    assert "Cap at the provider: $25.50 (lifetime)" in html
    assert html.count("Cap at the provider") == 1
