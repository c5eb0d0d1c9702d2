"""The People board's coding-tool table outside the page: its CSV (every person, not only the 25 shown) and the
API's `coding-tools/` resource, both with the board's rule of who sees whom."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.urls import reverse

from allocator.coding.store import coding_day_store, coding_seats_store
from allocator.models import ProviderAccount
from allocator.providers.coding import CodingUsageRow, SeatRow
from allocator.quarters import Quarter
from budgets.models import BudgetPolicy
from tests.api_helpers import script
from tests.conftest import login
from tests.factories import MembershipFactory, UserFactory

API = reverse("api:coding_tools")
BOARD = reverse("budgets:leaderboard")


def _rows(day, email, *, cost: str, prs: int | None) -> list[CodingUsageRow]:
    return [
        CodingUsageRow(day=day, identity=email, email=email, lines_added=400, commits=5, pull_requests=prs,
                       accepted_suggestions=20),
        CodingUsageRow(day=day, identity=email, email=email, model="claude-sonnet-4-5", input_tokens=1000,
                       output_tokens=100, cost_usd=Decimal(cost)),
    ]  # fmt: skip


@pytest.fixture
def tools(team, other_team, engineer, outsider):
    """Claude Code for Erin ($12, 3 PRs), a Copilot seat for her ($19), Claude Code for the outsider of Growth ($7)
    and for 25 more Search members ($1 each, no PRs reported)."""
    day = Quarter.current().start + timedelta(days=3)
    claude = ProviderAccount.objects.create(name="Claude Code", kind="claude_code", credential="sk-ant-admin-x")
    copilot = ProviderAccount.objects.create(name="Copilot", kind="copilot", options={"organization": "acme"})
    rows = _rows(day, engineer.email, cost="12.00", prs=3) + _rows(day, outsider.email, cost="7.00", prs=1)
    for n in range(25):
        member = UserFactory(email=f"dev{n:02}@example.com", full_name=f"Dev {n:02}")
        MembershipFactory(user=member, team=team)
        rows += _rows(day, member.email, cost="1.00", prs=None)
    coding_day_store(account=claude, day=day, rows=rows)
    coding_seats_store(account=copilot, month=day, seats=[SeatRow(identity="erin-gh", email=engineer.email)],
                       price_usd=Decimal("19.00"))  # fmt: skip
    return day


def _ok(response):
    assert response.status_code == 200, response.content[:400]
    return response.json()


def test_api_lists_every_person_with_tools_and_their_own_counts(finance, engineer, outsider, tools):
    body = _ok(script(finance).get(API, {"page_size": 100}))
    assert body["names_visible"] is True and body["count"] == 27 and body["tools"] == ["Claude Code", "Copilot"]
    assert "own counts" in body["note"]
    erin, gus = body["results"][0], body["results"][1]
    assert (erin["rank"], erin["id"], erin["ref"], erin["cost_usd"]) == (1, engineer.pk, engineer.email, "31.000000")
    assert erin["tools"] == [{"tool": "Claude Code", "cost_usd": "12.000000"},
                             {"tool": "Copilot", "cost_usd": "19.000000"}]  # fmt: skip
    counts = ("lines_added", "commits", "pull_requests", "accepted_suggestions")
    assert [erin[name] for name in counts] == [400, 5, 3, 20]
    assert erin["cost_per_pull_request_usd"] == "10.330000"
    assert gus["ref"] == outsider.email and gus["tools"] == [{"tool": "Claude Code", "cost_usd": "7.000000"}]
    dev = body["results"][-1]
    assert dev["pull_requests"] is None and dev["cost_per_pull_request_usd"] is None  # not reported: null, not 0


def test_api_shows_only_the_people_the_viewer_may_see(manager, engineer, outsider, team, other_team, tools):
    body = _ok(script(manager).get(API, {"team": team.slug}))
    assert body["count"] == 26 and len(body["results"]) == 25 and body["next"]  # 25 a page, as the board
    assert outsider.email not in {r["ref"] for r in body["results"]}
    assert script(manager).get(API, {"team": other_team.slug}).status_code == 404
    hidden = _ok(script(engineer).get(API))
    assert hidden["names_visible"] is False and hidden["results"] == [] and hidden["count"] == 0
    assert script(engineer).get(API, {"team": team.slug}).status_code == 404  # as the board: no names, no team
    BudgetPolicy.objects.filter(pk=BudgetPolicy.current().pk).update(engineers_see_names=True)
    named = _ok(script(engineer).get(API))
    assert named["count"] == 26 and outsider.email not in {r["ref"] for r in named["results"]}
    bad = script(manager).get(API, {"quarter": "FY20-Q9"})
    assert bad.status_code == 400 and "quarter" in bad.json()["error"]["fields"]


def _csv(client, **params):
    response = client.get(BOARD, {"tab": "people", "format": "coding-csv", **params})
    assert response.status_code == 200
    return response


def test_csv_has_every_person_and_tool_column(finance, engineer, tools):
    response = _csv(login(finance))
    assert response["Content-Type"].startswith("text/csv")
    assert f"leaderboard-coding-tools-{Quarter.current()}.csv" in response["Content-Disposition"]
    rows = list(csv.reader(StringIO(response.content.decode())))
    assert rows[0] == ["rank", "person", "email", "Claude Code (USD)", "Copilot (USD)", "cost_usd", "lines_added",
                       "commits", "pull_requests", "accepted_suggestions", "cost_per_pull_request_usd"]  # fmt: skip
    assert len(rows) == 1 + 27  # every person, though the page shows 25
    assert rows[1][2:] == [engineer.email, "12.00", "19.00", "31.00", "400", "5", "3", "20", "10.33"]
    assert rows[-1][4] == "" and rows[-1][-3] == rows[-1][-1] == ""  # no seat; no pull requests reported
    page = login(finance).get(BOARD, {"tab": "people"}).content.decode()
    assert "format=coding-csv" in page[page.index('id="coding-tools"') :]


def test_csv_follows_who_sees_whom(manager, engineer, outsider, team, other_team, tools):
    rows = list(csv.reader(StringIO(_csv(login(manager), team=team.pk).content.decode())))
    assert len(rows) == 1 + 26 and outsider.email not in {r[2] for r in rows}
    refused = login(manager).get(BOARD, {"tab": "people", "format": "coding-csv", "team": other_team.pk})
    assert refused.status_code == 404
    hidden = _csv(login(engineer))  # no names for an engineer: the page, not a file
    assert hidden["Content-Type"].startswith("text/html") and b'id="coding-tools"' not in hidden.content
