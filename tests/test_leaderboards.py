"""The leaderboard: rows equal direct sums over the rollups, changes against the previous quarter, sorting,
paging, htmx partials, CSV, bad input, and constant query counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from allocator.quarters import Quarter
from tests.board_helpers import direct_cost, member_with_key, rebuild, use
from tests.budget_factories import pinned_clock
from tests.conftest import login
from tests.factories import KeyFactory, ProjectFactory

URL = reverse("budgets:leaderboard")


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


@pytest.fixture
def board(team, other_team, engineer, manager, simulated):
    """Search: Erin (engineer), Maya (manager), Sam; Growth: Gus. Usage this quarter and the previous one."""
    q = Quarter.current()
    prev = q.previous()
    sam, sam_key = member_with_key(team, simulated, name="Sam Spender")
    gus, gus_key = member_with_key(other_team, simulated, name="Gus Growth")
    erin_key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    maya_key = KeyFactory(account=simulated, owner_user=manager, team=team)
    use(erin_key, "10.00", day=q.start, input_tokens=1000, cached=400, output=200, requests=10)
    use(erin_key, "2.50", day=q.start + timedelta(days=3), input_tokens=100, output=50, requests=5)
    use(sam_key, "40.00", day=q.start + timedelta(days=1), input_tokens=9000, cached=100, output=3000, requests=20)
    use(maya_key, "1.25", day=q.start + timedelta(days=2), model="claude-3-5-haiku", input_tokens=50, output=5)
    use(gus_key, "99.00", day=q.start, input_tokens=5, output=5, requests=1)
    # Previous quarter: Erin spent $5 before the same day and $15 after it; Sam $20 before.
    use(erin_key, "5.00", day=prev.start + timedelta(days=1))
    use(erin_key, "15.00", day=prev.last_day)
    use(sam_key, "20.00", day=prev.start + timedelta(days=2))
    rebuild(q, prev)
    return {"sam": sam, "gus": gus, "q": q, "prev": prev}


def _rows(response):
    return list(response.context["page"].object_list)


def test_finance_people_board_equals_direct_sums_and_ranks_by_cost(finance, board, engineer, manager):
    response = login(finance).get(URL)
    assert response.status_code == 200
    rows = _rows(response)
    assert [r.name for r in rows] == ["Gus Growth", "Sam Spender", "Erin Engineer", "Maya Manager"]
    q = board["q"]
    for row in rows:
        assert row.cost == direct_cost(q, owner_user_id=row.pk)
    html = response.content.decode()
    assert "$12.50" in html and "$99.00" in html and "$152.75" in html  # Erin; Gus; the total


def test_change_against_same_day_and_full_previous_quarter(finance, board):
    rows = {r.name: r for r in _rows(login(finance).get(URL))}
    erin, sam = rows["Erin Engineer"], rows["Sam Spender"]
    assert erin.same_day_cost == Decimal("5.00") and erin.previous_cost == Decimal("20.00")
    assert erin.change == Decimal("150") and erin.change_full == Decimal("-38")  # 12.50 vs 5; vs 20
    assert sam.change == Decimal("100") and sam.change_full == Decimal("100")
    assert rows["Gus Growth"].change is None  # nothing to compare against
    html = login(finance).get(URL).content.decode()
    assert "+150\u00a0%" in html and "−38\u00a0%" in html


def test_past_quarter_has_no_same_day_comparison(finance, board):
    response = login(finance).get(URL, {"quarter": str(board["prev"])})
    rows = {r.name: r for r in _rows(response)}
    assert rows["Erin Engineer"].cost == Decimal("20.00")
    assert rows["Erin Engineer"].same_day_cost is None


@pytest.mark.parametrize(
    ("sort", "first"),
    [("cost", "Gus Growth"), ("tokens", "Sam Spender"), ("requests", "Sam Spender"), ("name", "Erin Engineer"),
     ("change", "Erin Engineer")],
)  # fmt: skip
def test_sorting(finance, board, sort, first):
    rows = _rows(login(finance).get(URL, {"sort": sort}))
    assert rows[0].name == first


def test_other_tabs_sum_to_the_rollups(finance, board, team, simulated):
    project = ProjectFactory(team=team, name="Ranking")
    use(KeyFactory(account=simulated, owner_user=None, owner_project=project, team=team), "7.00", day=board["q"].start)
    rebuild(board["q"])
    client = login(finance)
    projects = _rows(client.get(URL, {"tab": "projects"}))
    assert [(r.name, r.cost) for r in projects] == [("Ranking", Decimal("7.00"))]
    teams = {r.name: r.cost for r in _rows(client.get(URL, {"tab": "teams"}))}
    assert teams == {"Search": direct_cost(board["q"], team_id=team.pk), "Growth": Decimal("99.00")}
    models = {r.name: r.cost for r in _rows(client.get(URL, {"tab": "models"}))}
    assert models["claude-3-5-haiku"] == Decimal("1.25")
    assert sum(models.values()) == direct_cost(board["q"])
    providers = _rows(client.get(URL, {"tab": "providers"}))
    assert [(r.name, r.cost) for r in providers] == [("Simulated (built in)", direct_cost(board["q"]))]


def test_team_and_cost_center_filters(finance, board, team, cost_center):
    client = login(finance)
    names = [r.name for r in _rows(client.get(URL, {"team": team.pk}))]
    assert "Gus Growth" not in names and names[0] == "Sam Spender"
    names = [r.name for r in _rows(client.get(URL, {"cost_center": cost_center.pk}))]
    assert "Gus Growth" not in names and len(names) == 3


def test_manager_sees_only_their_team_unless_policy_allows(manager, board, other_team):
    from budgets.models import BudgetPolicy

    client = login(manager)
    response = client.get(URL)
    names = [r.name for r in _rows(response)]
    assert "Gus Growth" not in names and "Sam Spender" in names
    assert "Gus Growth" not in response.content.decode()
    assert client.get(URL, {"team": other_team.pk}).status_code == 404
    assert [r.name for r in _rows(client.get(URL, {"tab": "teams"}))] == ["Search"]
    BudgetPolicy.objects.filter(pk=BudgetPolicy.current().pk).update(managers_see_other_teams=True)
    response = login(manager).get(URL, {"team": other_team.pk})
    assert [r.name for r in _rows(response)] == ["Gus Growth"]
    # Seeing another team's board does not open its people's pages: their names carry no link there.
    gus = response.context["page"].object_list[0]
    assert gus.url == ""
    own = login(manager).get(URL)
    links = {row.name: row.url for row in own.context["page"].object_list}
    assert links.pop("Gus Growth") == ""
    assert all(url.startswith("/budgets/people/") for url in links.values())


def test_engineer_sees_own_position_and_no_other_names(engineer, board):
    response = login(engineer).get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    for name in ("Sam Spender", "Maya Manager", "Gus Growth"):
        assert name not in html
    assert "page" not in response.context
    # Erin is second of the three Search members by spend: "bottom 67 %" (not "top 67 %"); cache share
    # 400 / 1100 = 36 %.
    assert "bottom 67\u00a0%" in html
    assert "36\u00a0%" in html


def test_engineer_sees_names_when_policy_allows(engineer, board):
    from budgets.models import BudgetPolicy

    BudgetPolicy.objects.filter(pk=BudgetPolicy.current().pk).update(engineers_see_names=True)
    response = login(engineer).get(URL)
    names = [r.name for r in _rows(response)]
    assert names == ["Sam Spender", "Erin Engineer", "Maya Manager"]
    assert "Gus Growth" not in response.content.decode()


def test_htmx_sort_returns_only_the_board(finance, board):
    response = login(finance).get(URL, {"sort": "name"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="board"') and "<html" not in html
    assert 'hx-push-url="true"' in html


def test_csv_has_every_row(finance, board):
    response = login(finance).get(URL, {"format": "csv"})
    lines = response.content.decode().strip().splitlines()
    assert response["Content-Type"].startswith("text/csv")
    assert lines[1].startswith("1,Gus Growth,99.00,")
    assert len(lines) == 5


@pytest.mark.parametrize(
    ("params", "status"),
    [({"sort": "drop table"}, 200), ({"page": "abc"}, 200), ({"page": "999"}, 200), ({"tab": "<x>"}, 200),
     ({"team": "abc"}, 400), ({"team": "99999999999999999999"}, 404), ({"team": "424242"}, 404),
     ({"cost_center": "x"}, 400), ({"cost_center": "424242"}, 404), ({"quarter": "FY99-Q9"}, 400)],
)  # fmt: skip
def test_bad_input_is_a_clear_answer_never_a_500(finance, board, params, status):
    assert login(finance).get(URL, params).status_code == status


def test_pages_of_25(finance, team, simulated):
    q = Quarter.current()
    for n in range(30):
        _, key = member_with_key(team, simulated, name=f"Person {n:02d}")
        use(key, f"{n + 1}.00", day=q.start)
    rebuild(q)
    client = login(finance)
    assert len(_rows(client.get(URL))) == 25
    second = _rows(client.get(URL, {"page": 2}))
    assert [r.name for r in second] == [f"Person {n:02d}" for n in range(4, -1, -1)]


def _people(team, account, count, q):
    for n in range(count):
        _, key = member_with_key(team, account, name=f"Many {n}")
        use(key, "1.00", day=q.start, requests=1)
    rebuild(q)


@pytest.mark.parametrize("role", ["finance", "manager", "engineer"])
def test_query_count_does_not_grow_with_people(request, role, team, simulated, django_assert_max_num_queries):
    user = request.getfixturevalue(role)
    q = Quarter.current()
    _people(team, simulated, 2, q)
    client = login(user)
    client.get(URL)  # warm the session and policy rows
    with django_assert_max_num_queries(14) as few:
        client.get(URL)
    _people(team, simulated, 40, q)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(URL)


def test_keys_tab_links_each_key_to_its_page(finance, board, engineer):
    rows = _rows(login(finance).get(URL, {"tab": "keys"}))
    erin = next(r for r in rows if r.name.endswith("(Erin Engineer)"))
    assert erin.cost == direct_cost(board["q"], owner_user_id=engineer.pk)
    assert erin.url == reverse("allocator:key_detail", args=[erin.pk])


def test_the_top_spender_is_told_they_are_in_the_top(board, team):
    sam = login(board["sam"]).get(URL).content.decode()
    assert "top 34\u00a0%" in sam  # first of three
    home = login(board["sam"]).get(reverse("home")).content.decode()
    assert "top 34\u00a0%" in home and "Gus Growth" not in home
