"""Keys end to end, minted by a real Celery worker: request → the manager approves inline → the worker mints →
the secret is revealed once and a second reveal is refused; a suspended engineer sees why and asks for a bump, the
manager approves it and the worker's enforcement run brings the key back."""

import re
from decimal import Decimal

from allocator.models import Key, KeyRequest, SimulatedKey
from budgets import tasks as budget_tasks
from budgets.models import BudgetRequest
from tests.budget_factories import simulated_key, spend, team_budget, user_budget
from tests.e2e.conftest import E2E_MARKS, wait_for

pytestmark = E2E_MARKS


def test_request_approve_inline_mint_in_the_worker_and_reveal_once(
    flow, celery_worker, engineer, manager, simulated, policy
):
    policy.auto_approve_limit_usd = Decimal("50")
    policy.save()

    page = flow.sign_in(engineer.email)
    page.click("text=Request a key")
    page.fill("input[name=name]", "laptop")
    page.fill("textarea[name=purpose]", "Evaluating rerankers")
    page.fill("input[name=allowance_usd]", "300")
    page.click("button[name=submit]")
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    assert "Waiting for the manager" in page.inner_text("#request-status")

    approver = flow.sign_in(manager.email)
    approver.click("nav >> text=Approvals")
    inbox_url = approver.url
    approver.click("button:has-text('Approve')")
    approver.wait_for_selector("text=Approved by you")
    assert approver.url == inbox_url  # decided in place, no page load

    # The worker mints; the request page follows it by itself.
    page.reload()
    page.wait_for_selector("#request-status >> text=The key is ready", timeout=30_000)
    key_request = KeyRequest.objects.get()
    assert key_request.state == KeyRequest.State.MINTED and key_request.decided_by == manager
    key = Key.objects.get(request=key_request)

    page.click("text=Open the key")
    second_tab = flow.sign_in(engineer.email)  # opened before the reveal: its button is stale
    second_tab.goto(f"{flow.url}/keys/{key.pk}/reveal/")
    page.click("text=Reveal secret")
    page.click("button:has-text('Reveal secret once')")
    secret = page.inner_text("#secret-value")
    assert secret.startswith("sk-sim-") and secret.endswith(key.hint[-4:])

    # Once shown, the page says so up front instead of offering a button that can only fail.
    page.reload()
    assert secret not in page.content()
    assert page.locator("text=Already shown").is_visible()
    assert page.locator("button:has-text('Reveal secret once')").count() == 0

    second_tab.click("button:has-text('Reveal secret once')")
    second_tab.wait_for_selector("text=Already shown")
    assert secret not in second_tab.content()
    assert flow.errors == []


def test_a_suspended_engineer_asks_for_a_bump_and_the_worker_brings_the_key_back(
    flow, celery_worker, engineer, manager, team, simulated, policy
):
    team_budget(team, "5000")
    budget = user_budget(engineer, team, "100")
    key = simulated_key(simulated, team=team, owner_user=engineer, name="erin-dev")
    spend(key, "150")
    budget_tasks.enforce_budgets.delay().get(timeout=30)  # the worker's enforcement run suspends the key
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED

    page = flow.sign_in(engineer.email)
    notice = page.inner_text(".notice-bad")
    assert "Key “erin-dev” is suspended." in notice and key.status_reason in notice
    page.click(".notice-bad >> text=Ask for more budget")
    assert page.locator(f"select[name=budget] option[value='{budget.pk}']").get_attribute("selected") is not None
    page.fill("input[name=amount_usd]", "200")
    page.fill("textarea[name=reason]", "The reranker evaluation needs another week")
    page.click("button:has-text('Send request')")
    bump = wait_for(lambda: BudgetRequest.objects.first(), what="the bump")
    page.wait_for_url(f"**{bump.get_absolute_url()}")
    assert bump.awaiting_step == "manager"

    approver = flow.sign_in(manager.email)
    approver.goto(f"{flow.url}/approvals/")
    approver.click(f"#bump-{bump.pk} >> button:has-text('Approve')")
    approver.wait_for_selector(f"#bump-{bump.pk} >> text=Approved: the budget is raised")
    assert approver.url == f"{flow.url}/approvals/"  # decided in place

    # The approval enqueues an enforcement run; the worker reinstates the key at the provider.
    wait_for(lambda: Key.objects.get(pk=key.pk).status == Key.Status.ACTIVE, what="the key to come back")
    assert not SimulatedKey.objects.get(key_id=key.provider_key_id).disabled
    page.goto(f"{flow.url}{key.get_absolute_url()}")
    assert page.locator("text=Suspended:").count() == 0
    page.goto(f"{flow.url}/")
    assert page.locator(".notice-bad >> text=is suspended").count() == 0
    assert flow.errors == []
