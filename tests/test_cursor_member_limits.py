"""Cursor members' hard spend limits kept in step with their budgets, against the Cursor emulator: a person over
budget is held at what they spent this cycle, raising the budget raises the limit, a failed write is kept and
retried, a value Cursor would refuse is never sent, and unmatched members are left alone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from allocator.models import ProviderAccount, ProviderKind
from budgets.enforce import enforce_budgets
from budgets.member_caps import member_caps_keep, member_limit_dollars
from budgets.models import ProviderCap
from budgets.tasks import provider_caps_retry
from tests.budget_factories import pinned_clock, spend, team_budget, user_budget
from tests.conftest import login
from tests.factories import KeyFactory
from tests.usage_helpers import emulator_account


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def cursor(db, cursor_emulator):
    cursor_emulator.add_member("engineer@example.com")
    cursor_emulator.add_member("stranger@elsewhere.com")
    cursor_emulator.limits["engineer@example.com"] = 500
    cursor_emulator.add_event("engineer@example.com", timezone.now() - timedelta(hours=2), cents=2450)
    return emulator_account(ProviderKind.CURSOR, cursor_emulator, member_limits=True)


def _over_budget(engineer, team, simulated) -> None:
    user_budget(engineer, team, "100")
    spend(KeyFactory(account=simulated, owner_user=engineer, team=team), "130")


def test_a_person_over_budget_gets_their_cursor_limit_lowered(
    cursor, cursor_emulator, engineer, team, simulated, admin
):
    _over_budget(engineer, team, simulated)
    page = login(admin).get(reverse("allocator:account_detail", args=[cursor.pk])).content.decode()
    assert "No limits set yet" in page
    enforce_budgets()
    assert cursor_emulator.limits["engineer@example.com"] == 24  # the $24.50 spent this cycle, in whole dollars
    cap = ProviderCap.objects.get(account=cursor, scope_key=f"user:{engineer.pk}")
    assert (cap.provider_scope_id, cap.limit_usd, cap.state) == ("engineer@example.com", Decimal(24), "in_step")
    assert AuditEvent.objects.filter(action="provider_cap.limit_set").count() == 1
    assert "stranger@elsewhere.com" not in cursor_emulator.limits  # not matched to anyone: never limited
    page = login(admin).get(reverse("allocator:account_detail", args=[cursor.pk])).content.decode()
    assert "Members' hard limits" in page and "engineer@example.com" in page and "$24" in page


def test_the_limit_follows_the_tightest_budget_and_a_bump_raises_it(cursor, cursor_emulator, engineer, team, simulated):
    budget = user_budget(engineer, team, "100")
    team_budget(team, "1000")
    spend(KeyFactory(account=simulated, owner_user=engineer, team=team), "40")
    enforce_budgets()
    assert cursor_emulator.limits["engineer@example.com"] == 84  # 24.50 + (100 − 40), rounded down
    budget.amount_usd = Decimal("300")
    budget.save()
    enforce_budgets()
    assert cursor_emulator.limits["engineer@example.com"] == 284
    calls = len(cursor_emulator.requests_to("POST", "/teams/user-spend-limit"))
    enforce_budgets()  # nothing changed: nothing written
    assert len(cursor_emulator.requests_to("POST", "/teams/user-spend-limit")) == calls


def test_no_hard_budget_removes_a_limit_allocator_set(cursor, cursor_emulator, engineer, team, simulated):
    budget = user_budget(engineer, team, "100")
    enforce_budgets()
    assert cursor_emulator.limits["engineer@example.com"] == 124
    budget.hard = False
    budget.save()
    enforce_budgets()
    assert cursor_emulator.limits["engineer@example.com"] is None
    assert ProviderCap.objects.get(account=cursor).limit_usd is None


def test_without_the_option_members_are_left_alone(cursor, cursor_emulator, engineer, team, simulated):
    cursor.options = {**cursor.options, "member_limits": False}
    cursor.save()
    _over_budget(engineer, team, simulated)
    enforce_budgets()
    assert cursor_emulator.limits["engineer@example.com"] == 500
    assert not cursor_emulator.requests_to("POST", "/teams/user-spend-limit")


def test_a_failed_write_is_kept_visible_and_retried(
    cursor, cursor_emulator, engineer, team, simulated, admin, eager_celery
):
    _over_budget(engineer, team, simulated)
    cursor_emulator.fail_next(5, status=503, path_prefix="/teams/user-spend-limit")
    member_caps_keep()
    cap = ProviderCap.objects.get(account=cursor)
    assert cap.state == ProviderCap.State.RETRYING and "503" in cap.last_error and cap.attempts == 1
    assert cap.next_attempt_at > timezone.now()
    assert cursor_emulator.limits["engineer@example.com"] == 500
    page = login(admin).get(reverse("allocator:account_detail", args=[cursor.pk])).content.decode()
    assert "Setting the limit failed (1 attempt)" in page and "503" in page
    cursor_emulator.clear_faults()
    provider_caps_retry(cursor.pk)
    cap.refresh_from_db()
    assert (cap.state, cap.limit_usd, cap.last_error) == ("in_step", Decimal(24), "")
    assert cursor_emulator.limits["engineer@example.com"] == 24


def test_a_refused_email_is_never_sent_and_stays_on_the_row(cursor, cursor_emulator, engineer, team, simulated):
    _over_budget(engineer, team, simulated)
    engineer.email = "engineer@example"  # Cursor would refuse it: checked before the call
    engineer.save()
    cursor_emulator.members.pop("engineer@example.com")
    cursor_emulator.add_member("engineer@example")
    for event in cursor_emulator.events:
        event["userEmail"] = "engineer@example"
    member_caps_keep()
    cap = ProviderCap.objects.get(account=cursor)
    assert cap.state == ProviderCap.State.RETRYING and "Not sent to Cursor" in cap.last_error
    assert not cursor_emulator.requests_to("POST", "/teams/user-spend-limit")


def test_limit_is_whole_dollars_and_never_below_the_cycle_spend() -> None:
    class Hard:
        amount_usd, scope_key = Decimal("100"), "user:1"

    hard = {"user:1": Hard()}
    assert member_limit_dollars(cycle_spend=Decimal("24.99"), covering=["user:1"], hard=hard,
                                spend={"user:1": Decimal("99.50")}) == 25  # fmt: skip
    assert member_limit_dollars(cycle_spend=Decimal("7.10"), covering=["user:1"], hard=hard,
                                spend={"user:1": Decimal("400")}) == 7  # fmt: skip
    assert member_limit_dollars(cycle_spend=Decimal("7"), covering=["team:9"], hard=hard, spend={}) is None


def test_an_admin_connects_cursor_with_member_limits_on(admin, cursor_emulator):
    browser = login(admin)
    form = browser.get(reverse("allocator:account_create"), {"kind": "cursor"}).content.decode()
    assert "Admin API Keys" in form and "Keep members&#x27; hard limits in step" in form
    answer = browser.post(
        reverse("allocator:account_create"),
        {"kind": "cursor", "name": "Cursor", "base_url": cursor_emulator.url, "credential": cursor_emulator.credential,
         "enabled": "on", "option_member_limits": "on", "option_budget_policy": "count"},
    )  # fmt: skip
    assert answer.status_code == 302, answer.content.decode()[:2000]
    account = ProviderAccount.objects.get(kind=ProviderKind.CURSOR)
    assert account.options["member_limits"] is True and account.adapter().capabilities.member_spend_limit
    browser.post(reverse("allocator:account_test", args=[account.pk]))
    account.refresh_from_db()
    assert account.status == ProviderAccount.Status.OK and account.status_message == "Connected: 0 team members"
    page = browser.get(account.get_absolute_url()).content.decode()
    assert "Per member, kept in step" in page and "Usage history lost" in page and "Keys on this account" not in page
