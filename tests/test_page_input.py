"""Bad input on the pages answers 400/404 with a clear message, never a 500; `next` never leaves the site."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.budget_factories import BudgetRequestFactory, team_budget, user_budget
from tests.conftest import login
from tests.factories import KeyRequestFactory

HUGE = "99999999999999999999"  # beyond 64 bits


@pytest.mark.parametrize(
    "path",
    [
        "/keys/{huge}/",
        "/keys/{huge}/reveal/",
        "/requests/{huge}/",
        "/providers/{huge}/",
        "/budgets/{huge}/",
        "/budgets/teams/{huge}/",
        "/budgets/bumps/{huge}/",
        "/keys/0/",
    ],
)
def test_ids_beyond_64_bits_are_a_404(path, admin):
    response = login(admin).get(path.format(huge=HUGE))
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_a_quarter_out_of_range_is_a_400_with_a_message(policy, finance, team):
    browser = login(finance)
    for url in (reverse("budgets:overview"), reverse("budgets:team", args=[team.pk])):
        response = browser.get(url, {"quarter": "FY9999-Q4"})
        assert response.status_code == 400
        assert "FY9999-Q4 is out of range" in response.content.decode()
    response = browser.get(reverse("budgets:overview"), {"quarter": "next year"})
    assert response.status_code == 400 and "Not a quarter name" in response.content.decode()


def test_all_keys_with_a_non_numeric_account_is_a_400(admin):
    response = login(admin).get(reverse("allocator:key_admin_list"), {"account": "abc"})
    assert response.status_code == 400
    assert "is not a provider account" in response.content.decode()


def test_split_and_bump_links_with_huge_ids_do_not_fail(policy, manager, team):
    team_budget(team, "1000")
    browser = login(manager)
    response = browser.get(reverse("budgets:team_split", args=[team.pk]), {"user": HUGE})
    assert response.status_code == 302
    assert browser.get(reverse("budgets:bump_create"), {"key": HUGE}).status_code == 200


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/x", "https:evil.example"])
def test_decisions_never_redirect_off_site(evil, policy, simulated, manager, engineer, team):
    browser = login(manager)
    kr = KeyRequestFactory(requester=engineer, team=team, account=simulated)
    response = browser.post(reverse("allocator:request_reject", args=[kr.pk]), {"reason": "no", "next": evil})
    assert response.status_code == 302 and response["Location"] == kr.get_absolute_url()
    bump = BudgetRequestFactory(requester=engineer, team=team, budget=user_budget(engineer, team, "100"))
    response = browser.post(reverse("budgets:bump_reject", args=[bump.pk]), {"reason": "no", "next": evil})
    assert response.status_code == 302 and response["Location"] == bump.get_absolute_url()


def test_a_same_site_next_is_followed(policy, simulated, manager, engineer, team):
    kr = KeyRequestFactory(requester=engineer, team=team, account=simulated)
    response = login(manager).post(
        reverse("allocator:request_reject", args=[kr.pk]), {"reason": "no", "next": reverse("allocator:approvals")}
    )
    assert response["Location"] == reverse("allocator:approvals")


def test_alert_retry_never_redirects_off_site(policy, finance, team):
    from tests.budget_factories import AlertFactory

    alert = AlertFactory(team=team, status="failed")
    response = login(finance).post(reverse("budgets:alert_retry", args=[alert.pk]), {"next": "https://evil.example"})
    assert response.status_code == 302 and response["Location"] == reverse("budgets:alerts")
