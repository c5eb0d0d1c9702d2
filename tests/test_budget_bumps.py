"""Budget bumps end to end through the web: ask, route by policy, decide inline, raise the budget, reinstate."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Notification
from allocator.models import Key, SimulatedKey
from allocator.quarters import Quarter
from budgets.enforce import enforce_budgets
from budgets.models import Alert, Budget, BudgetRequest
from tests.budget_factories import (
    BudgetRequestFactory,
    simulated_key,
    spend,
    team_budget,
    user_budget,
)
from tests.conftest import login


@pytest.fixture
def budget(engineer, team):
    team_budget(team, "5000")
    return user_budget(engineer, team, "100")


def _ask(client, budget, amount, reason="eval run for the new ranker", **extra):
    return client.post(
        reverse("budgets:bump_create"),
        {"budget": budget.pk, "amount_usd": amount, "reason": reason, **extra},
        **({"headers": {"HX-Request": "true"}} if extra.get("inline") else {}),
    )


def test_small_bump_from_home_is_approved_at_once_inline(policy, engineer, budget, django_capture_on_commit_callbacks):
    client = login(engineer)
    with django_capture_on_commit_callbacks(execute=False):
        response = _ask(client, budget, "40", inline="1")
    assert response.status_code == 200
    assert b"Approved automatically" in response.content
    assert b"<html" not in response.content  # only the partial
    budget.refresh_from_db()
    assert budget.amount_usd == Decimal("140.00")
    bump = BudgetRequest.objects.get()
    assert bump.auto_approved and bump.state == "approved"
    assert AuditEvent.objects.filter(action="budget.bumped", target_id=str(budget.pk)).exists()


def test_bump_goes_to_the_manager_who_approves_inline_and_keys_come_back(
    policy, simulated, engineer, manager, team, budget, eager_celery, django_capture_on_commit_callbacks
):
    key = simulated_key(simulated, team=team, owner_user=engineer)
    spend(key, "100")
    enforce_budgets()
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED

    response = _ask(login(engineer), budget, "200")
    bump = BudgetRequest.objects.get()
    assert response.status_code == 302 and response.url == bump.get_absolute_url()
    assert bump.awaiting_step == "manager" and not bump.needs_finance
    assert Notification.objects.filter(user=manager, text__contains="+$200").exists()
    assert Alert.objects.filter(kind="approval", scope_key=f"budget_request:{bump.pk}", dedupe="manager").exists()

    boss = login(manager)
    page = boss.get(reverse("allocator:approvals"))
    assert f'id="bump-{bump.pk}"'.encode() in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = boss.post(reverse("budgets:bump_approve", args=[bump.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"Approved: the budget is raised" in response.content and b"<html" not in response.content

    bump.refresh_from_db()
    budget.refresh_from_db()
    key.refresh_from_db()
    assert bump.state == "approved" and bump.decided_by == manager
    assert budget.amount_usd == Decimal("300.00")
    assert key.status == Key.Status.ACTIVE
    assert not SimulatedKey.objects.get(key_id=key.provider_key_id).disabled


def test_bump_above_the_finance_threshold_needs_both(policy, engineer, manager, finance, budget):
    policy.finance_approval_above_usd = Decimal("500")
    policy.save()
    _ask(login(engineer), budget, "800")
    bump = BudgetRequest.objects.get()
    assert bump.needs_finance and bump.awaiting_step == "manager"

    login(finance).post(reverse("budgets:bump_approve", args=[bump.pk]))  # not finance's turn yet
    bump.refresh_from_db()
    assert bump.awaiting_step == "manager"

    login(manager).post(reverse("budgets:bump_approve", args=[bump.pk]))
    bump.refresh_from_db()
    assert bump.state == "pending" and bump.awaiting_step == "finance"
    assert Alert.objects.filter(kind="approval", dedupe="finance").exists()

    login(finance).post(reverse("budgets:bump_approve", args=[bump.pk]))
    bump.refresh_from_db()
    budget.refresh_from_db()
    assert bump.state == "approved" and bump.finance_approved_by == finance
    assert budget.amount_usd == Decimal("900.00")


def test_bump_past_the_team_budget_needs_finance_and_raises_the_team(policy, engineer, manager, finance, team):
    team_b = team_budget(team, "300")
    budget = user_budget(engineer, team, "250")
    _ask(login(engineer), budget, "100")  # 350 of 300 split
    bump = BudgetRequest.objects.get()
    assert bump.needs_finance
    login(manager).post(reverse("budgets:bump_approve", args=[bump.pk]))
    login(finance).post(reverse("budgets:bump_approve", args=[bump.pk]))
    budget.refresh_from_db()
    team_b.refresh_from_db()
    assert budget.amount_usd == Decimal("350.00")
    assert team_b.amount_usd == Decimal("350.00")
    assert AuditEvent.objects.filter(action="budget.raised_for_bump").exists()


def test_requester_cannot_approve_their_own_bump(policy, engineer, manager, team):
    team_budget(team, "5000")
    own = user_budget(manager, team, "100")
    _ask(login(manager), own, "200")
    bump = BudgetRequest.objects.get()
    assert login(manager).post(reverse("budgets:bump_approve", args=[bump.pk])).status_code == 403
    assert login(engineer).post(reverse("budgets:bump_approve", args=[bump.pk])).status_code == 404  # not theirs to see
    bump.refresh_from_db()
    assert bump.state == "pending"


def test_outsider_gets_404_on_someone_elses_bump(policy, engineer, outsider, budget):
    bump = BudgetRequestFactory(budget=budget, requester=engineer)
    assert login(outsider).get(bump.get_absolute_url()).status_code == 404
    assert login(outsider).post(reverse("budgets:bump_approve", args=[bump.pk])).status_code == 404


def test_reject_needs_a_reason_and_tells_the_requester(policy, engineer, manager, budget):
    bump = BudgetRequestFactory(budget=budget, requester=engineer)
    boss = login(manager)
    response = boss.post(reverse("budgets:bump_reject", args=[bump.pk]), headers={"HX-Request": "true"})
    assert b"Say why" in response.content
    boss.post(reverse("budgets:bump_reject", args=[bump.pk]), {"reason": "use the cheaper model"})
    bump.refresh_from_db()
    assert bump.state == "rejected" and bump.decision_reason == "use the cheaper model"
    assert Notification.objects.filter(user=engineer, text__contains="cheaper model").exists()
    budget.refresh_from_db()
    assert budget.amount_usd == Decimal("100.00")


def test_requester_cancels(policy, engineer, budget):
    bump = BudgetRequestFactory(budget=budget, requester=engineer)
    login(engineer).post(reverse("budgets:bump_cancel", args=[bump.pk]))
    bump.refresh_from_db()
    assert bump.state == "cancelled"


def test_bump_form_is_reachable_from_a_suspension_notice(policy, simulated, engineer, team, budget):
    key = simulated_key(simulated, team=team, owner_user=engineer, name="erin-dev")
    spend(key, "150")
    enforce_budgets()
    client = login(engineer)
    home = client.get(reverse("home"))
    assert b"Key \xe2\x80\x9cerin-dev\xe2\x80\x9d is suspended" in home.content
    link = f"{reverse('budgets:bump_create')}?key={key.pk}"
    assert link.encode() in home.content
    form = client.get(link)
    assert form.status_code == 200
    assert f'<option value="{budget.pk}" selected'.encode() in form.content


def test_cannot_ask_on_a_budget_that_is_not_yours(policy, engineer, outsider, budget):
    response = _ask(login(outsider), budget, "50")
    assert response.status_code == 200
    assert not BudgetRequest.objects.exists()


def test_a_pending_bump_from_a_past_quarter_cannot_be_approved(policy, engineer, manager, team):
    old = user_budget(engineer, team, "100", quarter=Quarter.current().previous())
    bump = BudgetRequestFactory(budget=old, requester=engineer)
    response = login(manager).post(reverse("budgets:bump_approve", args=[bump.pk]), follow=True)
    assert b"which is over" in response.content
    bump.refresh_from_db()
    assert bump.state == "pending"
    assert Budget.objects.get(pk=old.pk).amount_usd == Decimal("100.00")


def test_a_bump_does_not_announce_thresholds_the_budget_is_already_past(
    policy, simulated, engineer, manager, team, budget, eager_celery, django_capture_on_commit_callbacks
):
    key = simulated_key(simulated, team=team, owner_user=engineer)
    spend(key, "100")
    enforce_budgets()
    bump = BudgetRequestFactory(budget=budget, requester=engineer, amount_usd="60")  # 100 of 160: 62 %
    with django_capture_on_commit_callbacks(execute=True):
        login(manager).post(reverse("budgets:bump_approve", args=[bump.pk]))
    sent = Alert.objects.filter(kind="threshold").exclude(status="skipped")
    assert list(sent.values_list("threshold", "dedupe")) == [(100, "100.00")]  # only the original crossing
    spend(key, "30")  # 130 of 160: 81 %
    enforce_budgets()
    assert Alert.objects.filter(kind="threshold", dedupe="160.00").exclude(status="skipped").get().threshold == 80
