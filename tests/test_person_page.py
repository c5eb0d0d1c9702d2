"""A person's page: their keys, budgets with the forecast, spend trend and efficiency; for them, their managers,
finance and admins only (404 for everyone else)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from allocator.models import DailyRollup
from allocator.quarters import Quarter
from tests.budget_factories import MID_QUARTER, pinned_clock, team_budget, user_budget
from tests.conftest import login
from tests.factories import KeyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


def rollup(key, *, day, model="gpt-4o", cost="1", requests=None, tokens=(0, 0, 0)) -> DailyRollup:
    return DailyRollup.objects.create(
        day=day,
        account=key.account,
        provider=key.account.kind,
        key=key,
        owner_user_id=key.owner_user_id,
        owner_project_id=key.owner_project_id,
        team_id=key.team_id,
        cost_center_id=key.team.cost_center_id,
        model=model,
        cost_usd=Decimal(cost),
        requests=requests,
        input_tokens=tokens[0],
        cached_input_tokens=tokens[1],
        output_tokens=tokens[2],
    )


def url(person) -> str:
    return reverse("budgets:person", args=[person.pk])


@pytest.mark.parametrize(
    ("role", "status"),
    [("engineer", 200), ("manager", 200), ("finance", 200), ("admin", 200), ("outsider", 404)],
)
def test_who_sees_a_persons_page(cast, role, status):
    assert login(cast[role]).get(url(cast["engineer"])).status_code == status


def test_an_engineer_cannot_see_a_teammates_page(cast, team):
    colleague = UserFactory()
    MembershipFactory(user=colleague, team=team)
    assert login(cast["engineer"]).get(url(colleague)).status_code == 404
    assert login(cast["manager"]).get(url(colleague)).status_code == 200
    assert login(cast["manager"]).get(url(cast["outsider"])).status_code == 404
    assert login(cast["engineer"]).get(reverse("budgets:person", args=[2**62])).status_code == 404


def test_keys_budgets_trend_and_efficiency_equal_the_rollups(simulated, engineer, manager, team):
    quarter = Quarter.current()
    today = MID_QUARTER.date()
    key = KeyFactory(account=simulated, owner_user=engineer, team=team, name="erin-main", limit_usd=Decimal("50"))
    other = KeyFactory(account=simulated, owner_user=engineer, team=team, name="erin-evals")
    rollup(key, day=today, model="gpt-4o", cost="6", requests=10, tokens=(1000, 250, 300))
    rollup(key, day=today - timedelta(days=2), model="gpt-4o-mini", cost="2", requests=30, tokens=(3000, 750, 900))
    rollup(other, day=today - timedelta(days=2), model="claude-sonnet", cost="4", requests=None, tokens=(0, 0, 0))
    rollup(key, day=quarter.previous().start, model="gpt-4o", cost="20", requests=1)
    user_budget(engineer, team, "100")
    team_budget(team, "1000")

    response = login(manager).get(url(engineer))
    assert response.status_code == 200
    page = response.context["page"]
    direct = sum(
        r.cost_usd for r in DailyRollup.objects.filter(owner_user=engineer, day__gte=quarter.start, day__lt=quarter.end)
    )
    assert page.spend == direct == Decimal("12")
    assert page.chart.total == direct and {i.name for i in page.chart.legend} == {
        "gpt-4o",
        "gpt-4o-mini",
        "claude-sonnet",
    }
    assert {k.name: k.spend_usd for k in page.keys} == {"erin-main": Decimal("8"), "erin-evals": Decimal("4")}
    assert [(r.scope, r.fc.spend, r.budget.amount_usd) for r in page.budget_rows] == [
        ("user", Decimal("12"), Decimal("100")),
        ("team", Decimal("12"), Decimal("1000")),
    ]
    assert all(r.fc.projected >= r.fc.spend for r in page.budget_rows)  # budgets.forecast: too little history yet
    e = page.efficiency
    assert e.requests == 40 and e.cost_per_request == Decimal("8") / 40  # Anthropic's $4 has no request count
    assert e.cache_share == Decimal(1000 * 100) / 4000
    assert e.small_tier_cost == Decimal("2") and e.small_tier_share == Decimal("2") * 100 / 12  # gpt-4o-mini only
    assert e.active_days == 2 and e.spend_per_active_day == Decimal("6")
    assert e.output_per_input == Decimal(1200) / 4000
    assert page.history[0] == (quarter.previous(), Decimal("20"))
    html = response.content.decode()
    assert "<svg" in html and "erin-main" in html and "Previous quarters" in html


def test_person_page_queries_do_not_grow_with_keys_or_days(
    simulated, engineer, manager, team, django_assert_max_num_queries
):
    user_budget(engineer, team, "100")
    key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    rollup(key, day=MID_QUARTER.date())
    client = login(manager)
    with CaptureQueriesContext(connection) as few:
        client.get(url(engineer))
    for n in range(8):
        key = KeyFactory(account=simulated, owner_user=engineer, team=team)
        for d in range(20):
            rollup(key, day=MID_QUARTER.date() - timedelta(days=d), model=f"m{n}")
    with django_assert_max_num_queries(len(few)):
        client.get(url(engineer))


def test_names_link_to_the_person_page_only_for_those_who_may_see_it(simulated, cast, team):
    from tests.budget_factories import BudgetRequestFactory

    engineer = cast["engineer"]
    BudgetRequestFactory(budget=user_budget(engineer, team, "100"), requester=engineer)
    link = f'href="{url(engineer)}"'
    assert link in login(cast["manager"]).get(reverse("budgets:team", args=[team.pk])).content.decode()
    assert link in login(cast["manager"]).get(reverse("allocator:approvals")).content.decode()
    key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    assert link in login(cast["finance"]).get(reverse("allocator:key_detail", args=[key.pk])).content.decode()
    colleague = UserFactory(full_name="Cleo Colleague")
    MembershipFactory(user=colleague, team=team)
    template = Template("{% load people_links %}{% person_link person %}")
    for viewer, linked in [(engineer, False), (cast["manager"], True), (cast["outsider"], False), (colleague, True)]:
        request = RequestFactory().get("/")
        request.user = viewer
        html = template.render(Context({"request": request, "person": colleague}))
        assert ("<a href" in html) is linked and "Cleo Colleague" in html


@pytest.mark.parametrize("quarter", ["FY2026-Q9", "nonsense", "FY99999-Q1"])
def test_a_bad_quarter_answers_400(cast, quarter):
    assert login(cast["manager"]).get(url(cast["engineer"]), {"quarter": quarter}).status_code == 400


def test_another_quarter_shows_its_own_spend(simulated, engineer, team):
    key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    previous = Quarter.current().previous()
    rollup(key, day=previous.start, cost="7")
    response = login(engineer).get(url(engineer), {"quarter": previous.name})
    assert response.status_code == 200 and response.context["page"].spend == Decimal("7")


def test_budget_forecasts_agree_with_the_budget_pages(simulated, engineer, manager, team):
    from budgets.tables import Numbers

    key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    for d in range(1, 30):
        rollup(key, day=MID_QUARTER.date() - timedelta(days=d), cost=str(2 + d % 7))
    budget = user_budget(engineer, team, "150")
    row = login(manager).get(url(engineer)).context["page"].budget_rows[0]
    expected = Numbers(Quarter.current()).forecast(budget.scope_key, budget.amount_usd)
    assert row.fc.projected > row.fc.spend
    assert (row.fc.spend, row.fc.projected, row.fc.run_out) == (expected.spend, expected.projected, expected.run_out)


def test_everyone_finds_their_own_page_in_the_navigation(cast):
    for role in ("engineer", "manager", "finance"):
        html = login(cast[role]).get(reverse("home")).content.decode()
        assert f'href="{url(cast[role])}"' in html and "My usage" in html
