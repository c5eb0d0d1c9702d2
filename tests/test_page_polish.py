"""Polish details users read on the pages: headers, units, who decided, percentages that do not break from their
number, the provider named once, and a key's own daily spend."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from allocator.models import KeyRequest
from budgets.enforce import enforce_budgets
from budgets.models import Alert, BudgetRequest
from tests.budget_factories import BudgetRequestFactory, pinned_clock, simulated_key, spend, team_budget
from tests.conftest import login
from tests.factories import KeyRequestFactory


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


def test_recently_decided_has_headers_units_and_says_policy_approved(manager, engineer, team, simulated, policy):
    KeyRequestFactory(
        requester=engineer, team=team, account=simulated, name="auto-one", allowance_usd=Decimal("50"),
        state=KeyRequest.State.APPROVED, awaiting_step="", auto_approved=True,
    )  # fmt: skip
    budget = team_budget(team, "1000")
    BudgetRequestFactory(
        requester=engineer, team=team, budget=budget, state=BudgetRequest.State.APPROVED, awaiting_step="",
        auto_approved=True,
    )  # fmt: skip
    page = login(manager).get(reverse("allocator:approvals")).content.decode()

    recent = page[page.index("<h2>Recently decided</h2>") :]
    assert "<th>Decided by</th>" in recent
    assert re.search(r"\$50(\.00)? <span class=\"muted small\">a quarter</span>", recent)
    assert page.count("auto-approved (policy)") == 2 and ">policy<" not in page  # the key and the bump
    assert "Budget requests from your teams appear here." in page and "Bumps asked for" not in page


def test_alert_texts_keep_the_percent_sign_with_its_number(admin, engineer, team, simulated, policy):
    team_budget(team, "100")
    spend(simulated_key(simulated, team=team, owner_user=engineer), "61")
    enforce_budgets()

    message = Alert.objects.get(kind=Alert.Kind.THRESHOLD, threshold=50).message
    assert "(61\u00a0%)" in message and " %" not in message
    page = login(admin).get(reverse("budgets:alerts")).content.decode()
    assert "(61\u00a0%)" in page


def test_key_page_names_the_provider_once_and_shows_its_daily_spend(engineer, team, simulated, policy):
    key = simulated_key(simulated, team=team, owner_user=engineer, name="evals", limit_usd="920")
    today = timezone.now().date()
    spend(key, "12.50", day=today)
    spend(key, "3.25", day=today - timedelta(days=2))
    browser = login(engineer)

    with CaptureQueriesContext(connection) as one_day:
        page = browser.get(key.get_absolute_url()).content.decode()
    assert "<dd>Simulated</dd>" in page and "Simulated · Simulated (built in)" not in page

    days = page[page.index('id="key-days"') :]
    assert "<h2>Last two weeks</h2>" in days and "$12.50" in days and "$3.25" in days and "$0.00" in days
    assert 'class="bar pace"' in days  # the allowance sets the scale, as the budget page's budget does

    for back in range(3, 10):
        spend(key, "1", day=today - timedelta(days=back))
    with CaptureQueriesContext(connection) as more_days:
        browser.get(key.get_absolute_url())
    assert len(more_days) == len(one_day)


def test_sync_page_names_each_account_kind_once(admin, simulated):
    page = login(admin).get(reverse("allocator:sync_status")).content.decode()
    assert "Simulated (built in)" not in page  # the account is called "Simulated": its kind adds nothing
    assert "every 15 minutes (simulated accounts: every 2 minutes)" in page


def test_asking_from_a_key_spent_on_its_allowance_asks_for_more_allowance(engineer, team, simulated, policy):
    key = simulated_key(simulated, team=team, owner_user=engineer, name="evals", limit_usd="20")
    spend(key, "25")
    enforce_budgets()
    key.refresh_from_db()
    assert key.status == "suspended"
    browser = login(engineer)
    assert "Ask for more allowance" in browser.get(key.get_absolute_url()).content.decode()

    page = browser.get(reverse("budgets:bump_create") + f"?key={key.pk}").content.decode()
    assert "<h1>Ask for more allowance</h1>" in page
    assert "<h1>Ask for more budget</h1>" in browser.get(reverse("budgets:bump_create")).content.decode()
