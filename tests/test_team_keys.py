"""The manager's list of every key in their teams: owner, status, spend, allowance and budget state."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from allocator.models import Key
from tests.budget_factories import pinned_clock, spend, user_budget
from tests.conftest import login
from tests.factories import KeyFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = reverse("allocator:key_team_list")


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


def names(response) -> list[str]:
    return [k.name for k in response.context["page"]]


def test_a_manager_sees_every_key_of_their_teams_only(simulated, cast, team, other_team, project):
    colleague = UserFactory(full_name="Cleo Colleague")
    MembershipFactory(user=colleague, team=team)
    KeyFactory(account=simulated, owner_user=cast["engineer"], team=team, name="erin")
    KeyFactory(account=simulated, owner_user=colleague, team=team, name="cleo")
    KeyFactory(account=simulated, owner_project=project, owner_user=None, team=team, name="ranking")
    KeyFactory(account=simulated, owner_user=cast["outsider"], team=other_team, name="otto")
    response = login(cast["manager"]).get(URL)
    assert response.status_code == 200
    assert sorted(names(response)) == ["cleo", "erin", "ranking"]
    html = response.content.decode()
    assert reverse("budgets:person", args=[colleague.pk]) in html  # owners link to their page
    assert login(cast["manager"]).get(URL, {"team": other_team.pk}).status_code == 404
    assert sorted(names(login(cast["finance"]).get(URL))) == ["cleo", "erin", "otto", "ranking"]
    assert names(login(cast["finance"]).get(URL, {"team": other_team.pk})) == ["otto"]


def test_spend_sort_status_filter_and_budget_state(simulated, cast, team):
    engineer = cast["engineer"]
    big = KeyFactory(account=simulated, owner_user=engineer, team=team, name="big", limit_usd=Decimal("100"))
    small = KeyFactory(account=simulated, owner_user=engineer, team=team, name="small")
    KeyFactory(account=simulated, owner_user=engineer, team=team, name="old", status=Key.Status.REVOKED)
    spend(big, "90")
    spend(small, "5")
    user_budget(engineer, team, "100")
    client = login(cast["manager"])
    response = client.get(URL)
    assert names(response) == ["big", "small", "old"]
    rows = {k.name: k for k in response.context["page"]}
    assert rows["big"].spend_usd == Decimal("90") and rows["small"].spend_usd == Decimal("5")
    state = rows["small"].budget_state
    assert state.spend == Decimal("95") and state.budget.amount_usd == Decimal("100") and state.status == "warn"
    assert names(client.get(URL, {"sort": "-spend"})) == ["old", "small", "big"]
    assert names(client.get(URL, {"sort": "name"})) == ["big", "old", "small"]
    assert names(client.get(URL, {"status": "revoked"})) == ["old"]
    assert "90&nbsp;% used" in response.content.decode()


@pytest.mark.parametrize("query", [{"team": "x"}, {"team": str(2**70)}, {"status": "nope"}])
def test_bad_filters_answer_400(cast, query):
    assert login(cast["manager"]).get(URL, query).status_code == 400


def test_unknown_sort_falls_back_to_spend(simulated, cast, team):
    KeyFactory(account=simulated, owner_user=cast["engineer"], team=team, name="k")
    assert login(cast["manager"]).get(URL, {"sort": "'; drop"}).status_code == 200


@pytest.mark.parametrize("sort", ["spend", "-spend", "name", "-owner"])
def test_queries_do_not_grow_with_keys(simulated, cast, team, django_assert_max_num_queries, sort):
    client = login(cast["manager"])
    spend(KeyFactory(account=simulated, owner_user=cast["engineer"], team=team), "1")
    user_budget(cast["engineer"], team, "10")
    with CaptureQueriesContext(connection) as few:
        client.get(URL, {"sort": sort})
    for _ in range(30):
        person = UserFactory()
        MembershipFactory(user=person, team=team)
        user_budget(person, team, "10")
        spend(KeyFactory(account=simulated, owner_user=person, team=team), "2")
        spend(KeyFactory(account=simulated, owner_project=ProjectFactory(team=team), owner_user=None, team=team), "3")
    with django_assert_max_num_queries(len(few)):
        response = client.get(URL, {"sort": sort})
    assert len(response.context["page"]) == 50


def test_team_keys_is_in_the_menu_of_managers_and_finance_only(cast):
    for role, shown in [("engineer", False), ("manager", True), ("finance", True), ("outsider", False)]:
        assert (f'href="{URL}"' in login(cast[role]).get(reverse("home")).content.decode()) is shown, role
