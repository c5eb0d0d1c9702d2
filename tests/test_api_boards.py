"""The board resources of the API (leaderboard, efficiency, adoption, quarter over quarter): the numbers equal the
pages' numbers and direct sums over the rollups, who sees whom follows the pages for every role and both policy
settings, bad parameters answer 400 in the error shape, and the query count does not grow with people."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from allocator.quarters import Quarter
from budgets.models import BudgetPolicy
from tests.api_helpers import script
from tests.board_helpers import direct_cost, member_with_key, rebuild, use
from tests.budget_factories import pinned_clock
from tests.conftest import login
from tests.factories import KeyFactory, MembershipFactory, ProjectFactory, UserFactory

BOARD = reverse("api:leaderboard")
EFFICIENCY = reverse("api:efficiency")
ADOPTION = reverse("api:adoption")
COMPARE = reverse("api:compare")


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


@pytest.fixture
def board(team, other_team, engineer, manager, simulated):
    """Search: Erin (engineer), Maya (manager), Sam, Ivy (no usage); Growth: Gus. This quarter and the previous."""
    q, prev = Quarter.current(), Quarter.current().previous()
    sam, sam_key = member_with_key(team, simulated, name="Sam Spender")
    gus, gus_key = member_with_key(other_team, simulated, name="Gus Growth")
    MembershipFactory(user=UserFactory(full_name="Ivy Idle"), team=team)
    erin_key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    maya_key = KeyFactory(account=simulated, owner_user=manager, team=team)
    use(erin_key, "10.00", day=q.start, input_tokens=1000, cached=400, output=200, requests=10)
    use(erin_key, "2.50", day=q.start + timedelta(days=3), input_tokens=100, output=50, requests=5)
    use(sam_key, "40.00", day=q.start + timedelta(days=1), input_tokens=9000, cached=100, output=3000, requests=20)
    use(maya_key, "1.25", day=q.start + timedelta(days=2), model="claude-3-5-haiku", input_tokens=50, output=5)
    use(gus_key, "99.00", day=q.start, input_tokens=5, output=5, requests=1)
    use(erin_key, "5.00", day=prev.start + timedelta(days=1))
    use(erin_key, "15.00", day=prev.last_day, model="gpt-4o")
    use(sam_key, "20.00", day=prev.start + timedelta(days=2))
    rebuild(q, prev)
    return {"sam": sam, "gus": gus, "q": q, "prev": prev}


def _policy(**fields):
    BudgetPolicy.objects.filter(pk=BudgetPolicy.current().pk).update(**fields)


def _ok(response):
    assert response.status_code == 200, response.content[:400]
    return response.json()


# --- Leaderboard --------------------------------------------------------------------------------------------------


def test_people_board_equals_the_page_and_the_rollups(finance, board, engineer):
    body = _ok(script(finance).get(BOARD))
    page = list(login(finance).get(reverse("budgets:leaderboard")).context["page"].object_list)
    assert [(r["name"], Decimal(r["cost_usd"])) for r in body["results"]] == [(r.name, r.cost) for r in page]
    for row in body["results"]:
        assert Decimal(row["cost_usd"]) == direct_cost(board["q"], owner_user_id=row["id"])
    erin = next(r for r in body["results"] if r["id"] == engineer.pk)
    assert erin["ref"] == engineer.email and erin["rank"] == 3
    assert (erin["cost_usd"], erin["previous_cost_usd"], erin["same_day_cost_usd"]) == ("12.500000", "20.000000",
                                                                                         "5.000000")  # fmt: skip
    assert (erin["change_percent"], erin["change_full_percent"]) == (150, -38)
    assert erin["tokens"] == 1350 and erin["requests"] == 15
    assert body["totals"]["cost_usd"] == "152.750000" and body["count"] == 4 and body["names_visible"] is True
    assert body["quarter"] == str(board["q"]) and body["same_day_through"]


def test_other_tabs_name_rows_as_the_api_does(finance, board, team, simulated):
    project = ProjectFactory(team=team, name="Ranking", slug="ranking")
    use(KeyFactory(account=simulated, owner_user=None, owner_project=project, team=team), "7.00", day=board["q"].start)
    rebuild(board["q"])
    client = script(finance)
    projects = _ok(client.get(BOARD, {"tab": "projects"}))["results"]
    assert [(r["ref"], r["team"], r["cost_usd"]) for r in projects] == [("ranking", "search", "7.000000")]
    teams = {r["ref"]: Decimal(r["cost_usd"]) for r in _ok(client.get(BOARD, {"tab": "teams"}))["results"]}
    assert teams == {"search": direct_cost(board["q"], team_id=team.pk), "growth": Decimal("99.00")}
    models = {r["ref"]: r for r in _ok(client.get(BOARD, {"tab": "models"}))["results"]}
    assert models["claude-3-5-haiku"]["cost_usd"] == "1.250000" and models["claude-3-5-haiku"]["id"] is None
    providers = _ok(client.get(BOARD, {"tab": "providers"}))["results"]
    assert [(r["ref"], Decimal(r["cost_usd"])) for r in providers] == [("simulated", direct_cost(board["q"]))]
    keys = _ok(client.get(BOARD, {"tab": "keys"}))["results"]
    assert all(r["ref"] == str(r["id"]) and r["team"] in ("search", "growth") for r in keys)


def test_filters_and_sorts_as_the_page(finance, board, team, cost_center):
    client = script(finance)
    names = [r["name"] for r in _ok(client.get(BOARD, {"team": "search"}))["results"]]
    assert names == ["Sam Spender", "Erin Engineer", "Maya Manager"]
    body = _ok(client.get(BOARD, {"cost_center": cost_center.code, "sort": "name"}))
    assert [r["name"] for r in body["results"]] == ["Erin Engineer", "Maya Manager", "Sam Spender"]
    assert body["cost_center"] == "RND" and body["sort"] == "name"
    assert _ok(client.get(BOARD, {"sort": "tokens"}))["results"][0]["name"] == "Sam Spender"
    past = _ok(client.get(BOARD, {"quarter": str(board["prev"])}))
    assert past["same_day_through"] is None and all(r["same_day_cost_usd"] is None for r in past["results"])


def test_pages_of_25_like_the_page(finance, team, simulated):
    q = Quarter.current()
    for n in range(30):
        _, key = member_with_key(team, simulated, name=f"Person {n:02d}")
        use(key, f"{n + 1}.00", day=q.start)
    rebuild(q)
    first = _ok(script(finance).get(BOARD))
    assert len(first["results"]) == 25 and first["count"] == 30 and "page=2" in first["next"]
    second = _ok(script(finance).get(BOARD, {"page": 2}))
    page = login(finance).get(reverse("budgets:leaderboard"), {"page": 2}).context["page"].object_list
    assert [r["name"] for r in second["results"]] == [r.name for r in page]
    assert script(finance).get(BOARD, {"page": 9}).json()["error"]["code"] == "not_found"


def test_manager_sees_their_team_only_unless_policy_allows(manager, board, other_team):
    client = script(manager)
    body = _ok(client.get(BOARD))
    assert body["team"] == "search" and "Gus Growth" not in str(body)
    assert client.get(BOARD, {"team": "growth"}).status_code == 404
    assert [r["ref"] for r in _ok(client.get(BOARD, {"tab": "teams"}))["results"]] == ["search"]
    _policy(managers_see_other_teams=True)
    assert [r["name"] for r in _ok(client.get(BOARD, {"team": "growth"}))["results"]] == ["Gus Growth"]


def test_engineer_gets_only_their_own_position(engineer, board):
    response = script(engineer).get(BOARD)
    body = _ok(response)
    text = response.content.decode()
    for name in ("Sam Spender", "Maya Manager", "Gus Growth", board["sam"].email):
        assert name not in text
    assert body["names_visible"] is False and body["results"] == [] and body["totals"] is None
    [position] = body["positions"]
    page = login(engineer).get(reverse("budgets:leaderboard")).context["positions"][0]
    assert position["team"] == "search" and position["rank"] == page.rank == 2
    assert position["members"] == page.members == 4
    assert position["standing"] == page.standing.replace("\u00a0", " ")
    assert position["mine"]["ref"] == engineer.email
    assert Decimal(position["mine"]["cache_share"]) == (Decimal(400) / 1100).quantize(Decimal("0.000001"))
    assert position["team_medians"]["cache_share"] is not None
    assert script(engineer).get(BOARD, {"team": "search"}).status_code == 404


def test_engineer_sees_names_when_policy_allows(engineer, board):
    _policy(engineers_see_names=True)
    body = _ok(script(engineer).get(BOARD))
    assert [r["name"] for r in body["results"]] == ["Sam Spender", "Erin Engineer", "Maya Manager"]
    assert body["positions"] == [] and "Gus Growth" not in str(body)


@pytest.mark.parametrize(
    "params",
    [{"tab": "<x>"}, {"sort": "drop table"}, {"quarter": "FY99-Q9"}, {"team": "not a slug!"},
     {"cost_center": "x" * 40}, {"team": "a\x00b"}],
)  # fmt: skip
def test_bad_parameters_are_400_in_the_error_shape(finance, board, params):
    for url in (BOARD, EFFICIENCY, ADOPTION) if set(params) - {"tab", "sort"} == set(params) else (BOARD,):
        response = script(finance).get(url, params)
        assert response.status_code == 400, (url, params, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid" and set(error["fields"]) == set(params)


def test_unknown_team_or_cost_center_is_404(finance, board):
    for url in (BOARD, EFFICIENCY, ADOPTION):
        assert script(finance).get(url, {"team": "nowhere"}).json()["error"]["code"] == "not_found"
        assert script(finance).get(url, {"cost_center": "NOPE"}).status_code == 404


# --- Efficiency ---------------------------------------------------------------------------------------------------


def test_efficiency_equals_the_page(manager, board, team, engineer):
    body = _ok(script(manager).get(EFFICIENCY))
    context = login(manager).get(reverse("budgets:efficiency")).context
    assert body["team"] == "search"
    assert [(p["ref"], Decimal(p["cost_usd"])) for p in body["people"]] == [
        (p.user_email, p.cost) for p in _with_emails(context["people"])
    ]
    erin = next(p for p in body["people"] if p["id"] == engineer.pk)
    assert erin["cost_per_request_usd"] == "0.833333"  # 12.50 / 15
    assert Decimal(erin["cache_share"]) == (Decimal(400) / 1100).quantize(Decimal("0.000001"))
    assert erin["active_days"] == 2 and erin["per_active_day_usd"] == "6.250000"
    assert body["most_expensive"]["name"] == "Sam Spender"
    assert (body["most_efficient"] or {}).get("name") == (context["best"].name if context["best"] else None)
    assert [p["name"] for p in body["not_using"]] == [m.user.full_name for m in context["idle"]] == ["Ivy Idle"]
    assert body["members"] == 4 and [t["ref"] for t in body["teams"]] == ["search"]
    assert Decimal(body["medians"]["cost_usd"]) == context["medians"]["cost"]


def _with_emails(people):
    from accounts.models import User

    emails = dict(User.objects.values_list("pk", "email"))
    for p in people:
        p.user_email = emails[int(p.ref)]
    return people


def test_efficiency_for_an_engineer_is_their_position_only(engineer, board):
    response = script(engineer).get(EFFICIENCY)
    body = _ok(response)
    assert body["names_visible"] is False and body["people"] == [] and body["teams"] == []
    assert "Sam Spender" not in response.content.decode()
    assert body["positions"][0]["mine"]["cost_usd"] == "12.500000"
    _policy(engineers_see_names=True)
    assert "Sam Spender" in [p["name"] for p in _ok(script(engineer).get(EFFICIENCY))["people"]]


def test_finance_picks_the_team_for_people(finance, board, other_team):
    body = _ok(script(finance).get(EFFICIENCY))
    assert body["team"] is None and body["people"] == [] and {t["ref"] for t in body["teams"]} == {"search", "growth"}
    body = _ok(script(finance).get(EFFICIENCY, {"team": "growth"}))
    assert [p["name"] for p in body["people"]] == ["Gus Growth"]


# --- Adoption -----------------------------------------------------------------------------------------------------


def test_adoption_equals_the_page(manager, board, team):
    body = _ok(script(manager).get(ADOPTION))
    item = next(i for i in login(manager).get(reverse("budgets:adoption")).context["items"] if i.team == team)
    [search] = body["teams"]
    assert search["team"] == "search" and search["names_visible"] is True
    assert (search["people"], search["with_key"], search["active_7_days"], search["active_30_days"]) == (
        len(item.members), item.with_key, item.active_7, item.active_30)  # fmt: skip
    assert Decimal(search["top_share"]) == item.top_share.quantize(Decimal("0.000001"))
    assert Decimal(search["spend_usd"]) == item.spend and search["state"] == item.state
    assert [p["name"] for p in search["not_using"]] == ["Ivy Idle"] and search["not_using_count"] == 1
    assert {m["email"] for m in search["members"]} == {m.user.email for m in item.members}


def test_adoption_for_an_engineer_is_counts_only(engineer, board):
    response = script(engineer).get(ADOPTION)
    [search] = _ok(response)["teams"]
    assert search["names_visible"] is False and search["not_using"] == [] and search["members"] == []
    assert search["not_using_count"] == 1 and search["people"] == 4
    assert "Ivy Idle" not in response.content.decode() and "Sam Spender" not in response.content.decode()


def test_adoption_filters_by_cost_center_for_finance(finance, board, cost_center):
    assert {t["team"] for t in _ok(script(finance).get(ADOPTION))["teams"]} == {"search", "growth"}
    assert [t["team"] for t in _ok(script(finance).get(ADOPTION, {"cost_center": "RND"}))["teams"]] == ["search"]


# --- Quarter over quarter -----------------------------------------------------------------------------------------


def test_team_comparison_equals_the_page(manager, board, team):
    body = _ok(script(manager).get(COMPARE, {"team": "search"}))
    page = login(manager).get(reverse("budgets:compare_team", args=[team.pk])).context["sections"]
    assert [s["kind"] for s in body["sections"]] == ["user", "project", "model"]
    for section, expected in zip(body["sections"], page, strict=True):
        assert [(r["name"], Decimal(r["cost_usd"]), Decimal(r["previous_cost_usd"])) for r in section["rows"]] == [
            (r.name, r.cost, r.previous_cost) for r in expected.rows
        ]
        assert Decimal(section["totals"]["cost_usd"]) == expected.totals["cost"]
    assert body["subject"] == {"kind": "team", "ref": "search", "name": "Search"}
    people = body["sections"][0]["rows"]
    assert sum(Decimal(r["cost_usd"]) for r in people) == direct_cost(board["q"], team_id=team.pk)


def test_cost_center_comparison_lists_teams(finance, board, cost_center):
    body = _ok(script(finance).get(COMPARE, {"cost_center": "RND"}))
    assert [(r["ref"], r["cost_usd"]) for r in body["sections"][0]["rows"]] == [("search", "53.750000")]


@pytest.mark.parametrize(
    ("role", "team_status", "cost_center_status"),
    [("engineer", 403, 403), ("outsider", 404, 403), ("manager", 200, 403), ("finance", 200, 200),
     ("admin", 200, 200)],
)  # fmt: skip
def test_comparison_access(request, role, team_status, cost_center_status, board, cast):
    client = script(cast[role])
    assert client.get(COMPARE, {"team": "search"}).status_code == team_status
    assert client.get(COMPARE, {"cost_center": "RND"}).status_code == cost_center_status


def test_comparison_follows_the_policy(engineer, manager, board):
    _policy(managers_see_other_teams=True, engineers_see_names=True)
    assert script(manager).get(COMPARE, {"cost_center": "PROD"}).status_code == 200
    assert script(engineer).get(COMPARE, {"team": "search"}).status_code == 200
    assert script(engineer).get(COMPARE, {"team": "growth"}).status_code == 404


@pytest.mark.parametrize("params", [{}, {"team": "search", "cost_center": "RND"}, {"team": ""},
                                    {"team": "search", "quarter": "soon"}])  # fmt: skip
def test_comparison_needs_exactly_one_subject(finance, board, params):
    response = script(finance).get(COMPARE, params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


# --- Query counts -------------------------------------------------------------------------------------------------


def _more_people(team, account, count):
    q = Quarter.current()
    for n in range(count):
        _, key = member_with_key(team, account, name=f"Many {n}")
        use(key, "1.00", day=q.start, requests=1)
    rebuild(q)


@pytest.mark.parametrize("role", ["finance", "manager", "engineer"])
@pytest.mark.parametrize(
    ("url", "params"),
    [(BOARD, {}), (BOARD, {"tab": "keys"}), (EFFICIENCY, {"team": "search"}), (ADOPTION, {}),
     (COMPARE, {"team": "search"})],
)  # fmt: skip
def test_query_count_does_not_grow_with_people(role, url, params, cast, team, simulated,
                                               django_assert_max_num_queries):  # fmt: skip
    _more_people(team, simulated, 2)
    client = script(cast[role])
    client.get(url, params)
    with django_assert_max_num_queries(20) as few:
        client.get(url, params)
    _more_people(team, simulated, 40)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url, params)
