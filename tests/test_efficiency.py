"""The efficiency page: figures equal direct ratios over the rollups, a careful heavy user and a wasteful one
are told apart against the team median, and engineers see only their own figures."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from allocator.quarters import Quarter
from tests.board_helpers import member_with_key, rebuild, use
from tests.budget_factories import pinned_clock
from tests.conftest import login

URL = reverse("budgets:efficiency")


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


@pytest.fixture
def people(team, simulated):
    """Five people of Search: two heavy ones, one careful (cheap requests, cached input), one not."""
    q = Quarter.current()
    figures = {  # name: (cost, requests, input, cached)
        "Cara Careful": ("100.00", 1000, 10_000, 8_000),
        "Wes Wasteful": ("100.00", 100, 10_000, 0),
        "Mo Median": ("10.00", 50, 1_000, 200),
        "Di Dabbler": ("10.00", 40, 1_000, 100),
        "Ed Even": ("12.00", 50, 1_000, 300),
    }
    for name, (cost, requests, input_tokens, cached) in figures.items():
        _, key = member_with_key(team, simulated, name=name)
        use(key, cost, day=q.start, requests=requests, input_tokens=input_tokens, cached=cached, output=500)
    rebuild(q)
    return figures


def _person(response, name):
    return next(p for p in response.context["people"] if p.name == name)


def test_figures_equal_direct_ratios(finance, people, team):
    response = login(finance).get(URL, {"team": team.pk})
    assert response.status_code == 200
    cara = _person(response, "Cara Careful")
    assert cara.cost_per_request == Decimal("100.00") / 1000
    assert cara.cache_share == Decimal(8_000) / 10_000
    assert cara.output_per_input == Decimal(500) / 10_000
    assert cara.per_active_day == Decimal("100.00")
    html = response.content.decode()
    assert "$0.1000" in html and "80\u00a0%" in html


def test_careful_heavy_user_looks_different_from_a_wasteful_one(manager, people, team):
    response = login(manager).get(URL)
    assert _person(response, "Cara Careful").verdict == "heavy, careful"
    assert _person(response, "Wes Wasteful").verdict == "heavy, costly"
    assert _person(response, "Mo Median").verdict == ""
    assert response.context["best"].name == "Cara Careful"
    html = response.content.decode()
    assert "heavy, careful" in html and "heavy, costly" in html


def test_engineer_sees_own_figures_not_colleagues(engineer, people, team, simulated):
    q = Quarter.current()
    from tests.factories import KeyFactory

    use(KeyFactory(account=simulated, owner_user=engineer, team=team), "5.00", day=q.start, requests=5,
        input_tokens=100, cached=50)  # fmt: skip
    rebuild(q)
    response = login(engineer).get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Cara Careful" not in html and "Wes Wasteful" not in html
    assert "Your cache share is <strong>50\u00a0%</strong>" in html


def test_the_small_tier_rule_is_on_the_page(finance, people):
    from allocator.usage.pricing import SMALL_TIER_RULE

    assert SMALL_TIER_RULE[1:] in login(finance).get(URL).content.decode()


def test_query_count_does_not_grow_with_people(manager, team, simulated, people, django_assert_max_num_queries):
    client = login(manager)
    client.get(URL)
    with django_assert_max_num_queries(21) as few:
        client.get(URL)
    q = Quarter.current()
    for n in range(30):
        _, key = member_with_key(team, simulated, name=f"More {n}")
        use(key, "3.00", day=q.start, requests=3)
    rebuild(q)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(URL)


def test_small_tier_share_follows_the_price_table(finance, team, simulated):
    from allocator.usage.pricing import model_tier

    q = Quarter.current()
    _, key = member_with_key(team, simulated, name="Tia Tiered")
    use(key, "3.00", day=q.start, model="gpt-4o-mini", requests=3)
    use(key, "1.00", day=q.start, model="gpt-4o", requests=1)
    rebuild(q)
    tiers = {m: model_tier(simulated.kind, m) for m in ("gpt-4o-mini", "gpt-4o")}
    small = sum(Decimal(c) for m, c in (("gpt-4o-mini", "3.00"), ("gpt-4o", "1.00")) if tiers[m] == "small")
    response = login(finance).get(URL, {"team": team.pk})
    assert _person(response, "Tia Tiered").small_share == small / Decimal("4.00")
    assert tiers == {"gpt-4o-mini": "small", "gpt-4o": "large"}


def test_a_manager_sees_who_does_not_use_tokens(manager, people, team):
    from tests.factories import MembershipFactory, UserFactory

    MembershipFactory(user=UserFactory(full_name="Nel Nonuser"), team=team)
    html = login(manager).get(URL).content.decode()
    assert "Not using tokens at all" in html and "Nel Nonuser" in html
