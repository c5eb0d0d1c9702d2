"""The adoption page: people with a key, active in 7 and 30 days, top-10 % share, and who has no usage at all;
names only for those who may see them; constant queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from allocator.quarters import Quarter
from tests.board_helpers import member_with_key, rebuild, use
from tests.budget_factories import pinned_clock
from tests.conftest import login
from tests.factories import KeyFactory, MembershipFactory, UserFactory

URL = reverse("budgets:adoption")


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


@pytest.fixture
def search(team, engineer, manager, simulated):
    today = timezone.now().date()
    q = Quarter.current()
    use(KeyFactory(account=simulated, owner_user=engineer, team=team), "30.00", day=today - timedelta(days=2))
    sam, sam_key = member_with_key(team, simulated, name="Sam Spender")
    # 8 to 30 days ago and inside the quarter (which, with a fiscal year starting in February, began 17 days ago).
    use(sam_key, "10.00", day=max(today - timedelta(days=20), q.start))
    ivy = UserFactory(full_name="Ivy Idle")
    MembershipFactory(user=ivy, team=team)
    rebuild(q, q.previous())
    return {"sam": sam, "ivy": ivy}


def _item(response, team):
    return next(i for i in response.context["items"] if i.team == team)


def test_counts_for_the_team(manager, search, team):
    response = login(manager).get(URL)
    item = _item(response, team)
    assert len(item.members) == 4
    assert item.with_key == 2  # Erin and Sam; Maya and Ivy have none
    assert (item.active_7, item.active_30) == (1, 2)
    assert {m.user.full_name for m in item.idle} == {"Maya Manager", "Ivy Idle"}
    assert item.top_count == 1 and item.top_share == Decimal("30") / Decimal("40")
    html = response.content.decode()
    assert "Ivy Idle" in html and "75\u00a0%" in html


def test_engineer_sees_counts_without_names(engineer, search, team):
    response = login(engineer).get(URL)
    assert response.status_code == 200
    assert _item(response, team).active_30 == 2
    html = response.content.decode()
    assert "Ivy Idle" not in html and "Sam Spender" not in html


def test_finance_sees_every_team_and_filters_by_cost_center(finance, search, team, other_team):
    response = login(finance).get(URL)
    assert {i.team for i in response.context["items"]} == {team, other_team}
    response = login(finance).get(URL, {"cost_center": team.cost_center_id})
    assert [i.team for i in response.context["items"]] == [team]


def test_query_count_does_not_grow_with_people(finance, search, team, simulated, django_assert_max_num_queries):
    client = login(finance)
    client.get(URL)
    with django_assert_max_num_queries(16) as few:
        client.get(URL)
    q = Quarter.current()
    for n in range(30):
        _, key = member_with_key(team, simulated, name=f"More {n}")
        use(key, "1.00", day=q.start)
    rebuild(q)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(URL)
