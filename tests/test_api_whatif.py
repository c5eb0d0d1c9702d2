"""GET /api/v1/what-if/: the page's numbers (tests/whatif_helpers.py), its checks as 400s naming the field."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import login
from tests.factories import ProjectFactory
from tests.whatif_helpers import BIG, SMALL, quarter_name, whatif_usage

pytestmark = pytest.mark.django_db
API = reverse("api:what_if")


@pytest.fixture
def usage(team, other_team, simulated):
    project = ProjectFactory(team=team, name="Ranking", slug="ranking-run", kind="run")
    whatif_usage(project=project, other_team=other_team, account=simulated)
    return project


def test_half_of_a_teams_large_model_spend_moved(finance, team, usage):
    params = {"quarter": quarter_name(), "shift_percent": "50", "shift_team": team.slug,
              "shift_provider": "simulated", "shift_model": SMALL}  # fmt: skip
    body = login(finance).get(API, params).json()
    assert body["total"] == {"id": None, "name": "All", "team": "", "old_cost_usd": "15.000000",
                             "new_cost_usd": "9.680000", "difference_usd": "-5.320000"}  # fmt: skip
    search = next(row for row in body["teams"] if row["name"] == "Search")
    assert (search["id"], search["new_cost_usd"]) == (team.pk, "8.380000")
    assert any("Move 50 %" in sentence for sentence in body["assumptions"])
    top = body["savings"]["opportunities"][0]
    assert (top["saving_usd"], top["shift_saving_usd"], top["cache_saving_usd"]) == ("7.187500", "5.320000", "3.150000")
    assert body["savings"]["target_model"] == SMALL


def test_a_project_by_slug(finance, usage):
    params = {"quarter": quarter_name(), "shift_percent": "100", "shift_project": usage.slug,
              "shift_provider": "simulated", "shift_model": SMALL}  # fmt: skip
    body = login(finance).get(API, params).json()
    assert body["total"]["new_cost_usd"] == "4.360000"  # 0.56 + 2.50 + 1.30


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"shift_percent": "101"}, "shift_percent"),
        ({"shift_percent": "5"}, "shift_model"),
        ({"shift_percent": "5", "shift_provider": "simulated", "shift_model": BIG}, "shift_model"),
        ({"shift_team": "search", "shift_project": "ranking-run"}, "shift_project"),
        ({"price_percent": "-101"}, "price_percent"),
        ({"price_provider": "nope"}, "price_provider"),
        ({"start": "2026-11-01"}, "end"),
        ({"typo": "1"}, "typo"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(finance, usage, params, field):
    response = login(finance).get(API, params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_team_or_project_one_may_not_see_is_a_404(manager, other_team, usage):
    assert login(manager).get(API, {"shift_team": other_team.slug}).status_code == 404
    assert login(manager).get(API, {"shift_team": "nope"}).status_code == 404
    assert login(manager).get(API, {"shift_project": "nope"}).status_code == 404


def test_a_manager_sees_their_teams_only(manager, usage):
    body = login(manager).get(API, {"quarter": quarter_name()}).json()
    assert [row["name"] for row in body["teams"]] == ["Search"]


def test_engineers_get_403(engineer):
    assert login(engineer).get(API).status_code == 403
