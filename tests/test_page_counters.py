"""What a page says stays true: "needs attention" counts every budget, and htmx answers carry updated counters."""

from __future__ import annotations

import re

from django.urls import reverse

from tests.budget_factories import cost_center_budget, simulated_key, spend, team_budget, user_budget
from tests.conftest import login

HX = {"HX-Request": "true"}


def _attention(html: str) -> tuple[int, int]:
    match = re.search(
        r'Needs attention</div><div class="value">(\d+) <span class="small muted">over</span> · (\d+)', html
    )
    assert match, "no Needs attention figure"
    return int(match.group(1)), int(match.group(2))


def test_needs_attention_counts_people_over_their_budget(policy, simulated, manager, engineer, team):
    team_budget(team, "5000")
    user_budget(engineer, team, "100")
    spend(simulated_key(simulated, team=team, owner_user=engineer), "104")
    html = login(manager).get(reverse("budgets:overview")).content.decode()
    assert _attention(html)[0] == 1
    assert "of 2 budgets: teams, projects and people" in html


def test_an_inline_budget_edit_answers_with_the_summary_and_the_parent_row(
    policy, simulated, finance, team, cost_center
):
    cost_center_budget(cost_center, "5000")
    team_budget(team, "1000")
    spend(simulated_key(simulated, team=team, owner_user=finance), "500")
    browser = login(finance)
    assert _attention(browser.get(reverse("budgets:overview")).content.decode())[0] == 0
    response = browser.post(reverse("budgets:set"), {"team": team.pk, "amount_usd": "400", "hard": "1"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "budget-changed" in response.headers["HX-Trigger"]
    assert 'id="budget-summary" hx-swap-oob="true"' in html
    assert _attention(html)[0] == 1
    parent = re.search(rf'<tr id="row-cost_center-{cost_center.pk}"[^>]*hx-swap-oob="true">(.*?)</tr>', html, re.S)
    assert parent and "$400.00" in parent.group(1)  # the cost center's split column
