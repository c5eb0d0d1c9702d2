"""Free text is bounded by its column before anything is called, and long text wraps instead of widening pages."""

from __future__ import annotations

from django.urls import reverse

from allocator.models import Key, KeyRequest
from tests.budget_factories import simulated_key
from tests.conftest import login


def test_a_key_action_reason_over_its_column_is_refused_before_the_provider_is_called(
    policy, simulated, admin, engineer, team
):
    key = simulated_key(simulated, team=team, owner_user=engineer)
    response = login(admin).post(reverse("allocator:key_suspend", args=[key.pk]), {"reason": "x" * 201})
    assert response.status_code == 200
    assert "Keep the reason to 200 characters (it has 201)." in response.content.decode()
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE
    response = login(admin).post(reverse("allocator:key_suspend", args=[key.pk]), {"reason": "y" * 200})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED and key.status_reason == "y" * 200


def test_a_ten_thousand_character_purpose_is_refused(policy, simulated, engineer, team):
    data = {"account": simulated.pk, "owner": "me", "team": team.pk, "name": "laptop", "allowance_usd": "20"}
    response = login(engineer).post(reverse("allocator:request_create"), {**data, "purpose": "p" * 10_000})
    assert response.status_code == 200
    assert "Ensure this value has at most 2000 characters" in response.content.decode()
    assert not KeyRequest.objects.exists()


def test_a_too_long_bump_reject_reason_is_refused_with_a_message(policy, manager, engineer, team):
    from tests.budget_factories import BudgetRequestFactory, user_budget

    bump = BudgetRequestFactory(requester=engineer, team=team, budget=user_budget(engineer, team, "100"))
    response = login(manager).post(reverse("budgets:bump_reject", args=[bump.pk]), {"reason": "r" * 1001}, follow=True)
    assert "too long" in response.content.decode()
    bump.refresh_from_db()
    assert bump.state == "pending"


def test_the_stylesheet_wraps_long_words_in_cells_and_prose():
    from pathlib import Path

    from django.contrib.staticfiles import finders

    css = Path(finders.find("css/app.css")).read_text(encoding="utf-8")
    rule = next(line for line in css.splitlines() if "overflow-wrap: anywhere" in line)
    selectors = {s.strip() for s in rule.split("{")[0].split(",")}
    assert {"td", "th", "p", "dd", "li"} <= selectors


def test_a_webhook_url_too_long_is_refused(admin, team):
    response = login(admin).post(
        reverse("budgets:slack_settings"), {f"team-{team.pk}": "https://hooks.slack.com/" + "x" * 600}, follow=True
    )
    assert "too long for a webhook URL" in response.content.decode()
    team.refresh_from_db()
    assert team.slack_webhook_url == ""
