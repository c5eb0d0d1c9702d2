"""Concentration: run spend per provider and account, and run projects flagged when one provider or account holds
at least the policy share of their run spend (page and API)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse

from allocator.capacity.models import DemandPeak
from allocator.models import ProviderKind
from allocator.providers import capacity
from tests.budget_factories import spend
from tests.conftest import login
from tests.factories import KeyFactory, ProjectFactory, ProviderAccountFactory
from tests.whatif_helpers import USAGE_DAY, project_key, quarter_name

pytestmark = pytest.mark.django_db
URL = reverse("budgets:concentration")
API = reverse("api:concentration")


@pytest.fixture
def usage(team, other_team, simulated):
    """Ranking (run, Search): $95 on Simulated, $5 on Prod-OpenAI → flagged on the account.
    Rewrite (run, Search): $50 / $50 → not flagged. Checkout (run, Growth): $30 on Prod-OpenAI → flagged.
    A build project's $1,000 and a person's $500 on Simulated are not run spend."""
    openai = ProviderAccountFactory(name="Prod-OpenAI", kind=ProviderKind.OPENAI)
    ranking = ProjectFactory(team=team, name="Ranking", kind="run")
    rewrite = ProjectFactory(team=team, name="Rewrite", kind="run")
    checkout = ProjectFactory(team=other_team, name="Checkout", kind="run")
    tooling = ProjectFactory(team=team, name="Tooling", kind="build")
    for project, account, amount in [
        (ranking, simulated, "95"),
        (ranking, openai, "5"),
        (rewrite, simulated, "50"),
        (rewrite, openai, "50"),
        (checkout, openai, "30"),
        (tooling, simulated, "1000"),
    ]:
        spend(project_key(project, account), amount, day=USAGE_DAY, summarise=False)  # fmt: skip
    spend(KeyFactory(account=simulated, team=team), "500", day=USAGE_DAY, summarise=False)
    return {"ranking": ranking, "rewrite": rewrite, "checkout": checkout, "openai": openai}


def test_flags_a_project_on_one_account_with_the_reason(finance, usage):
    response = login(finance).get(URL, {"quarter": quarter_name()})
    assert response.status_code == 200
    report = response.context["report"]
    flagged = {p.name: p.reason for p in report.flagged}
    assert set(flagged) == {"Ranking", "Checkout"}
    assert flagged["Ranking"] == (
        "95 % of its run spend is on one account, Simulated: an outage, a price change or a rate limit there hits it "
        "fully."
    )
    assert [(s.name, s.cost, s.share) for s in report.accounts] == [
        ("Simulated", 145, Decimal(145) / 230), ("Prod-OpenAI", 85, Decimal(85) / 230)
    ]  # fmt: skip
    page = response.content.decode()
    assert "2 of 3 flagged" in page and "Share of peak demand" in page
    assert "Tooling" not in page  # build spend is not run spend


def test_a_provider_spread_over_two_accounts_is_flagged_on_the_provider(finance, team, simulated):
    second = ProviderAccountFactory(name="Simulated EU")
    project = ProjectFactory(team=team, name="Ranking", kind="run")
    spend(project_key(project, simulated), "60", day=USAGE_DAY)
    spend(project_key(project, second), "40", day=USAGE_DAY)
    [item] = login(finance).get(URL, {"quarter": quarter_name()}).context["report"].flagged
    assert item.reason.startswith("100 % of its run spend is on one provider, Simulated (built in)")


@override_settings(CONCENTRATION_SHARE_PERCENT=96)
def test_the_share_is_a_setting(finance, usage):
    report = login(finance).get(URL, {"quarter": quarter_name()}).context["report"]
    assert [p.name for p in report.flagged] == ["Checkout"]


def test_a_manager_sees_their_teams_projects_only(manager, usage):
    report = login(manager).get(URL, {"quarter": quarter_name()}).context["report"]
    assert {p.name for p in report.projects} == {"Ranking", "Rewrite"}
    assert report.total == 200


def test_empty_quarter_says_what_to_do(finance):
    page = login(finance).get(URL).content.decode()
    assert "No run spend in" in page and "Mark production projects as run" in page


def test_bad_quarter_is_a_400(finance):
    assert login(finance).get(URL, {"quarter": "nope"}).status_code == 400


def test_query_count_is_constant(finance, usage, team, simulated, django_assert_max_num_queries):
    client = login(finance)
    client.get(URL, {"quarter": quarter_name()})
    with django_assert_max_num_queries(8) as before:
        client.get(URL, {"quarter": quarter_name()})
    for _ in range(5):
        spend(project_key(ProjectFactory(team=team, kind="run"), ProviderAccountFactory()), "1", day=USAGE_DAY)
    with django_assert_max_num_queries(len(before.captured_queries)):
        client.get(URL, {"quarter": quarter_name()})


def test_peak_demand_share_stands_beside_the_spend_share(finance, usage, simulated):
    openai = usage["openai"]
    for account, peak in [(simulated, 300), (openai, 100)]:  # tokens in the busiest minute of a day
        DemandPeak.objects.create(account=account, scope=capacity.ORGANIZATION, model="gpt-4o", day=USAGE_DAY,
                                  dimension=capacity.TOKENS_PER_MINUTE, peak=peak, p99=peak, minutes=1440)  # fmt: skip
    report = login(finance).get(URL, {"quarter": quarter_name()}).context["report"]
    assert {s.name: s.peak_share for s in report.accounts} == {"Simulated": Decimal("0.75"),
                                                               "Prod-OpenAI": Decimal("0.25")}  # fmt: skip
    assert {s.ref: s.peak_share for s in report.providers} == {"simulated": Decimal("0.75"), "openai": Decimal("0.25")}


def test_api_answers_what_the_page_shows(finance, engineer, usage):
    body = login(finance).get(API, {"quarter": quarter_name()}).json()
    assert body["quarter"] == quarter_name() and body["threshold"] == "0.900000"
    assert body["total_usd"] == "230.000000"
    ranking = next(p for p in body["projects"] if p["name"] == "Ranking")
    assert ranking["flagged"] is True and ranking["top_account"]["name"] == "Simulated"
    assert ranking["top_account"]["share"] == "0.950000"
    assert [a["peak_share"] for a in body["accounts"]] == [None, None]
    assert login(engineer).get(API).status_code == 403
    error = login(finance).get(API, {"quarter": "FY1"}).json()["error"]
    assert error["code"] == "invalid" and "quarter" in error["fields"]
