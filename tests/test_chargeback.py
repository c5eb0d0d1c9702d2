"""The chargeback page: cost center → team → project or person, build vs run, unattributed usage, cost source;
totals equal the budget pages' spend and a direct sum over the buckets; managers see only their teams."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from budgets.reports.chargeback import chargeback_lines, chargeback_summary
from budgets.spend import scope_spend
from tests.budget_factories import spend
from tests.chargeback_helpers import (
    FIRST_DAY_OF_Q4,
    LAST_DAY_OF_Q3,
    Q3,
    Q4,
    add_usage,
    bucket_sum,
    cents,
    early_q4,  # noqa: F401
    keys,  # noqa: F401
    openai_account,  # noqa: F401
    sync,
)
from tests.conftest import login
from tests.factories import KeyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("early_q4")]
URL = reverse("budgets:chargeback")


@pytest.fixture
def synced(openai_emulator, openai_account, keys):  # noqa: F811
    add_usage(openai_emulator, LAST_DAY_OF_Q3, "key_erin", tokens=200_000)
    add_usage(openai_emulator, LAST_DAY_OF_Q3, "key_rank", tokens=50_000)
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_erin")
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_rank", tokens=300_000)
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_nobody_knows", tokens=70_000)  # unattributed
    run = sync(openai_account)
    assert run.status == "succeeded"
    return keys


def test_totals_equal_the_buckets_and_the_budget_spend_to_the_cent(synced, finance, team, cost_center):
    summary = chargeback_summary(chargeback_lines(quarter=Q4), quarter=Q4)
    totals = summary.totals
    assert totals.usage_usd == bucket_sum(Q4) > 0
    spend_by_scope = scope_spend(quarter=Q4)
    assert totals.build_usd + totals.run_usd == spend_by_scope[f"cost_center:{cost_center.pk}"]
    assert totals.unattributed_usd > 0
    assert totals.build_usd + totals.run_usd + totals.unattributed_usd == totals.total_usd

    page = login(finance).get(URL, {"quarter": "FY2026-Q4"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-total="{cents(bucket_sum(Q4))}"' in html
    assert "Unattributed usage" in html and "Ranking" in html and "engineer@example.com" in html


def test_build_and_run_follow_the_project_kind_and_personal_keys_are_build(synced, engineer, project):
    lines = list(chargeback_lines(quarter=Q3))
    by_key = {line.key_name: line for line in lines}
    assert by_key[synced["erin"].name].kind == "build" and by_key[synced["erin"].name].user_name == engineer.email
    assert by_key[synced["ranking"].name].kind == "run" and by_key[synced["ranking"].name].project_name == "Ranking"
    assert all(line.for_quarter == "FY2026-Q3" and line.category == "usage" for line in lines)
    assert sum(line.requests for line in lines) == 20
    assert {line.source for line in lines} == {"estimated"}  # priced from the price table: the line says so


def test_billed_cost_is_the_truth_and_the_line_says_billed(openai_emulator, openai_account, keys):  # noqa: F811
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_erin")
    openai_emulator.add_cost(FIRST_DAY_OF_Q4, "0.50", project_id="proj_a", api_key_id="key_erin")
    sync(openai_account)
    line = next(line for line in chargeback_lines(quarter=Q4) if line.key_id == keys["erin"].pk)
    assert line.cost_usd == Decimal("0.500000") and line.source in {"billed", "reconciled"}


def test_requests_a_provider_does_not_report_stay_n_a(finance, team, engineer, simulated):
    key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    row = spend(key, "3.25")
    assert row.requests is None
    page = login(finance).get(URL).content.decode()
    assert "n/a" in page and "$3.25" in page


def test_a_manager_sees_only_their_teams(synced, manager, other_team, outsider, simulated):
    spend(KeyFactory(account=simulated, owner_user=outsider, team=other_team), "999.99")
    page = login(manager).get(URL).content.decode()
    assert "Ranking" in page and "$999.99" not in page and "Unattributed usage" not in page
    export = login(manager).get(reverse("budgets:chargeback_export", args=["csv"]))
    body = b"".join(export.streaming_content).decode()
    assert "Growth" not in body and "Search" in body


def test_engineers_and_outsiders_are_refused(engineer, outsider):
    assert login(engineer).get(URL).status_code == 403
    assert login(outsider).get(reverse("budgets:chargeback_export", args=["focus"])).status_code == 403


def test_bad_quarter_and_unknown_format_answer_400_and_404(finance):
    client = login(finance)
    assert client.get(URL, {"quarter": "FY20x7"}).status_code == 400
    assert client.get(reverse("budgets:chargeback_export", args=["pdf"])).status_code == 404


def test_query_count_does_not_grow_with_keys(finance, team, engineer, simulated, django_assert_max_num_queries):
    client = login(finance)
    for _ in range(3):
        spend(KeyFactory(account=simulated, owner_user=engineer, team=team), "1.00")
    with django_assert_max_num_queries(24) as few:
        client.get(URL)
    for _ in range(40):
        spend(KeyFactory(account=simulated, owner_user=engineer, team=team), "1.00")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(URL).status_code == 200
