"""The chargeback through the API: the lines and totals the page shows (finance every line, a manager their teams'),
paged; the three exports streamed as the page gives them, each an audit event; bad input is a clear answer."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from budgets.reports.chargeback import chargeback_lines, chargeback_summary
from tests.api_helpers import script
from tests.budget_factories import spend
from tests.chargeback_helpers import (
    FIRST_DAY_OF_Q4,
    Q4,
    add_usage,
    bucket_sum,
    csv_rows,
    early_q4,  # noqa: F401
    keys,  # noqa: F401
    openai_account,  # noqa: F401
    streamed,
    sync,
)
from tests.conftest import login
from tests.factories import KeyFactory, ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("early_q4")]
URL = reverse("api:chargeback")


def _export_url(fmt: str) -> str:
    return reverse("api:chargeback_export", args=[fmt])


@pytest.fixture
def usage(openai_emulator, openai_account, keys, simulated, other_team):  # noqa: F811
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_erin")
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_rank", tokens=300_000)
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_unknown", tokens=70_000)  # unattributed
    sync(openai_account)
    growth = ProjectFactory(team=other_team, name="Growth bot", slug="growth-bot", kind="run")
    spend(KeyFactory(account=simulated, owner_project=growth, owner_user=None, team=other_team), "12.345678")
    return chargeback_summary(chargeback_lines(quarter=Q4), quarter=Q4).totals


def test_finance_gets_every_line_with_the_pages_totals(finance, usage):
    body = script(finance).get(URL, {"quarter": "FY2026-Q4"}).json()
    page = login(finance).get(reverse("budgets:chargeback"), {"quarter": "FY2026-Q4"}).context["totals"]
    assert Decimal(body["totals"]["total_usd"]) == page.total_usd == usage.total_usd
    assert Decimal(body["totals"]["usage_usd"]) == bucket_sum(Q4) + Decimal("12.345678")
    assert Decimal(body["totals"]["unattributed_usd"]) == page.unattributed_usd > 0
    assert body["count"] == body["totals"]["lines"] == page.lines == len(body["results"])
    assert sum(Decimal(line["cost_usd"]) for line in body["results"]) == page.total_usd
    assert body["all_teams"] is True and body["closed"] is False and body["quarter"] == "FY2026-Q4"
    assert {line["kind"] for line in body["results"]} == {"build", "run", "unattributed"}
    growth = next(line for line in body["results"] if line["project_name"] == "Growth bot")
    assert growth["cost_usd"] == "12.345678" and growth["requests"] is None and growth["team_name"] == "Growth"


def test_lines_come_in_pages_and_totals_cover_them_all(finance, usage):
    first = script(finance).get(URL, {"quarter": "FY2026-Q4", "page_size": 2}).json()
    assert len(first["results"]) == 2 and first["count"] == usage.lines > 2 and "page=2" in first["next"]
    everything = []
    url, params = URL, {"quarter": "FY2026-Q4", "page_size": 2}
    while url:
        body = script(finance).get(url, params).json()
        assert Decimal(body["totals"]["total_usd"]) == usage.total_usd
        everything += body["results"]
        url, params = body["next"], None
    assert len(everything) == usage.lines
    assert script(finance).get(URL, {"quarter": "FY2026-Q4", "page": 99}).json()["error"]["code"] == "not_found"
    assert script(finance).get(URL, {"page": "x"}).status_code == 404


def test_a_manager_gets_their_teams_lines_only(manager, usage):
    body = script(manager).get(URL, {"quarter": "FY2026-Q4"}).json()
    assert body["all_teams"] is False
    assert {line["team_name"] for line in body["results"]} == {"Search"}
    assert Decimal(body["totals"]["unattributed_usd"]) == 0
    page = login(manager).get(reverse("budgets:chargeback"), {"quarter": "FY2026-Q4"}).context["totals"]
    assert Decimal(body["totals"]["total_usd"]) == page.total_usd


@pytest.mark.parametrize("role", ["engineer", "outsider"])
def test_engineers_may_not_read_the_chargeback(request, role, usage):
    client = script(request.getfixturevalue(role))
    assert client.get(URL).status_code == 403
    assert client.get(_export_url("csv")).json()["error"]["code"] == "permission_denied"
    assert not AuditEvent.objects.filter(action="chargeback.exported").exists()


def test_exports_stream_the_pages_files_and_are_audited(finance, usage):
    client = script(finance)
    response = client.get(_export_url("csv"), {"quarter": "FY2026-Q4"}, headers={"Accept": "text/csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="chargeback-FY2026-Q4.csv"' in response["Content-Disposition"]
    assert sum(Decimal(row["cost_usd"]) for row in csv_rows(response)) == usage.total_usd
    page = login(finance).get(reverse("budgets:chargeback_export", args=["focus"]), {"quarter": "FY2026-Q4"})
    focus = client.get(_export_url("focus"), {"quarter": "FY2026-Q4"})
    assert streamed(focus) == streamed(page)
    xlsx = client.get(_export_url("xlsx"), {"quarter": "FY2026-Q4"})
    assert openpyxl.load_workbook(io.BytesIO(streamed(xlsx))).sheetnames[0] == "Summary"
    events = AuditEvent.objects.filter(action="chargeback.exported", actor=finance, details__via="api")
    assert sorted(e.details["format"] for e in events) == ["csv", "focus", "xlsx"]
    assert {e.details["quarter"] for e in events} == {"FY2026-Q4"}


def test_a_managers_export_has_their_teams_only(manager, usage):
    rows = csv_rows(script(manager).get(_export_url("csv"), {"quarter": "FY2026-Q4"}))
    assert rows and {row["team"] for row in rows} == {"Search"}
    event = AuditEvent.objects.get(action="chargeback.exported", actor=manager)
    assert event.details["teams"] != "all"


@pytest.mark.parametrize(("url", "params", "status"), [
    (URL, {"quarter": "FY99-Q9"}, 400), (_export_url("csv"), {"quarter": "soon"}, 400),
    (_export_url("pdf"), {}, 404),
])  # fmt: skip
def test_bad_input_answers_the_error_shape(finance, usage, url, params, status):
    response = script(finance).get(url, params)
    assert response.status_code == status and set(response.json()) == {"error"}
    assert not AuditEvent.objects.filter(action="chargeback.exported").exists()


def test_query_count_does_not_grow_with_lines(finance, usage, simulated, team, django_assert_max_num_queries):
    client = script(finance)
    client.get(URL, {"quarter": "FY2026-Q4"})
    with django_assert_max_num_queries(25) as few:
        client.get(URL, {"quarter": "FY2026-Q4"})
    for n in range(20):
        project = ProjectFactory(team=team, name=f"More {n}", slug=f"more-{n}")
        spend(KeyFactory(account=simulated, owner_project=project, owner_user=None, team=team), "1.00")
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = client.get(URL, {"quarter": "FY2026-Q4"}).json()
    assert body["count"] == usage.lines + 20
