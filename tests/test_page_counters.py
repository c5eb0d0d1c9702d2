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


def test_approving_both_key_requests_counts_down_the_waiting_figure(policy, simulated, manager, engineer, team):
    from tests.factories import KeyRequestFactory

    first, second = (KeyRequestFactory(requester=engineer, team=team, account=simulated) for _ in range(2))
    browser = login(manager)
    assert (
        '<span class="muted small" id="kr-waiting">2 waiting</span>'
        in browser.get(reverse("allocator:approvals")).content.decode()
    )
    html = browser.post(reverse("allocator:request_reject", args=[first.pk]), {"reason": "no"}, headers=HX).content
    assert b'id="kr-waiting" hx-swap-oob="true">1 waiting</span>' in html
    html = browser.post(reverse("allocator:request_reject", args=[second.pk]), {"reason": "no"}, headers=HX).content
    assert b'id="kr-waiting" hx-swap-oob="true">0 waiting</span>' in html


def test_deciding_a_bump_counts_down_the_waiting_figure(policy, manager, engineer, team):
    from tests.budget_factories import BudgetRequestFactory

    bump = BudgetRequestFactory(requester=engineer, team=team, budget=user_budget(engineer, team, "100"))
    browser = login(manager)
    assert 'id="bump-waiting">1 waiting</span>' in browser.get(reverse("allocator:approvals")).content.decode()
    html = browser.post(reverse("budgets:bump_reject", args=[bump.pk]), {"reason": "no"}, headers=HX).content
    assert b'id="bump-waiting" hx-swap-oob="true">0 waiting</span>' in html


def test_asking_for_more_on_home_updates_my_budget_requests(policy, engineer, team):
    budget = user_budget(engineer, team, "100")
    browser = login(engineer)
    assert "None yet." in browser.get(reverse("home")).content.decode()
    data = {"inline": "1", "budget": budget.pk, "amount_usd": "500", "reason": "eval run"}
    html = browser.post(reverse("budgets:bump_create"), data, headers=HX).content.decode()
    assert '<div id="my-bumps" hx-swap-oob="true">' in html
    assert "+$500.00" in html and "None yet." not in html


def test_a_split_edit_answers_with_the_team_totals(policy, manager, engineer, team, project):
    team_budget(team, "1000")
    browser = login(manager)
    data = {"project": project.pk, "amount_usd": "400", "hard": "1"}
    html = browser.post(reverse("budgets:team_split", args=[team.pk]), data, headers=HX).content.decode()
    allocation = re.search(r'<div id="allocation"[^>]*hx-swap-oob="true">(.*?)</div>\s*</div>\s*</div>', html, re.S)
    assert allocation and "$400.00" in allocation.group(1) and "$600.00" in allocation.group(1)


def test_the_request_page_says_the_key_is_revoked_not_ready(policy, simulated, engineer, team):
    from allocator.models import Key
    from tests.factories import KeyRequestFactory

    kr = KeyRequestFactory(requester=engineer, team=team, account=simulated, state="minted", awaiting_step="")
    key = simulated_key(simulated, team=team, owner_user=engineer)
    Key.objects.filter(pk=key.pk).update(request=kr, status=Key.Status.REVOKED, status_reason="revoked by user")
    html = login(engineer).get(kr.get_absolute_url()).content.decode()
    assert "The key is ready" not in html
    assert "is <strong>revoked</strong>: revoked by user" in html
