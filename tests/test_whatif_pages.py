"""The what-if page and its CSV: hand-computed numbers (tests/whatif_helpers.py), the form's errors, who sees
which teams, the htmx partial, and a query count that does not grow with the usage."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from tests.budget_factories import spend
from tests.conftest import login
from tests.factories import KeyFactory, ProjectFactory, TeamFactory
from tests.whatif_helpers import BIG, SMALL, USAGE_DAY, quarter_name, whatif_usage

pytestmark = pytest.mark.django_db
URL = reverse("budgets:what_if")


@pytest.fixture
def usage(team, other_team, simulated):
    project = ProjectFactory(team=team, name="Ranking", slug="ranking-run", kind="run")
    whatif_usage(project=project, other_team=other_team, account=simulated)
    return project


def _shift(team, **extra) -> dict:
    return {"quarter": quarter_name(), "shift_percent": "50", "shift_scope": f"team:{team.pk}",
            "shift_target": f"simulated|{SMALL}", **extra}  # fmt: skip


def test_moving_half_of_a_teams_large_model_spend_shows_the_saving(finance, team, usage):
    response = login(finance).get(URL, _shift(team))
    assert response.status_code == 200
    page = response.content.decode()
    # Search: 11.20 + 2.50 old; 5.88 + 2.50 new (tests/test_whatif_arithmetic.py works it out). Growth unchanged.
    assert "saves $5.32" in page
    search = page[page.index('<td class="name">Search</td>') :][:400]
    assert "$13.70" in search and "$8.38" in search and "-5.32" in search
    assert "Move 50 % of the large-model tokens of team Search to small-model" in page
    assert "Savings opportunities" in page and "$7.19" in page  # 7.1875, the shift and caching together


def test_csv_starts_with_the_assumptions_and_has_exact_money(finance, team, usage):
    response = login(finance).get(URL, _shift(team, format="csv"))
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assumptions = [row[1] for row in rows if row and row[0] == "# assumption"]
    assert assumptions[0].startswith("Period: ") and "Move 50 %" in assumptions[1]
    assert rows[: len(assumptions)] == [["# assumption", a] for a in assumptions]
    header = rows.index(["level", "team", "project", "old_cost_usd", "new_cost_usd", "difference_usd"])
    body = rows[header + 1 :]
    assert ["team", "Search", "", "13.700000", "8.380000", "-5.320000"] in body
    assert ["team", "Growth", "", "1.300000", "1.300000", "0.000000"] in body
    assert ["project", "Search", "Ranking", "13.700000", "8.380000", "-5.320000"] in body
    assert body[-1] == ["total", "", "", "15.000000", "9.680000", "-5.320000"]


def test_cache_and_price_change_together(finance, usage):
    params = {"quarter": quarter_name(), "cache_percent": "50", "price_percent": "10", "price_model": BIG}
    body = b"".join(login(finance).get(URL, {**params, "format": "csv"}).streaming_content).decode()
    # Search: big 8.50 × 1.1 = 9.35, small 2.05; Growth 0.85 × 1.1 = 0.935.
    assert "team,Search,,13.700000,11.400000,-2.300000" in body
    assert "team,Growth,,1.300000,0.935000,-0.365000" in body


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"shift_percent": "150"}, "less than or equal to 100"),
        ({"cache_percent": "-1"}, "greater than or equal to 0"),
        ({"price_percent": "1e9"}, "less than or equal to 1000"),
        ({"shift_percent": "50"}, "Choose the smaller model to move spend to."),
        ({"shift_percent": "50", "shift_target": f"simulated|{BIG}"}, "is not a small-tier model"),
        ({"shift_target": "nowhere|x"}, "Choose one of the models offered."),
        ({"start": "2026-11-05", "end": "2026-11-01"}, "The range ends before it starts."),
        ({"start": "2026-11-05"}, "Give both days of the range"),
        ({"start": "2025-01-01", "end": "2026-12-31"}, "A range is at most 366 days."),
        ({"quarter": "FY1999-Q9"}, "Not a quarter name"),
        ({"shift_scope": "team:99999999999999999999"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_a_clear_error_and_no_figures(finance, usage, params, message):
    response = login(finance).get(URL, params)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page.replace("&#x27;", "'")
    assert "Old and new cost" not in page


def test_a_date_range_reprices_only_its_days(finance, team, usage):
    out = {"start": "2026-11-03", "end": "2026-11-30"}
    assert "No usage in this period" in login(finance).get(URL, out).content.decode()
    inside = {"start": USAGE_DAY.isoformat(), "end": USAGE_DAY.isoformat(), "format": "csv"}
    body = b"".join(login(finance).get(URL, inside).streaming_content).decode()
    assert "total,,,15.000000,15.000000,0.000000" in body


def test_a_manager_sees_and_shifts_only_their_teams(manager, team, other_team, usage):
    response = login(manager).get(URL, _shift(team))
    page = response.content.decode()
    assert "Search" in page and "Growth" not in page
    choices = [value for value, _ in response.context["form"].fields["shift_scope"].choices]
    assert f"team:{other_team.pk}" not in choices
    assert "Select a valid choice" in login(manager).get(URL, _shift(other_team)).content.decode()


def test_engineers_may_not_open_it(engineer):
    assert login(engineer).get(URL).status_code == 403


def test_htmx_gets_only_the_results(finance, team, usage):
    response = login(finance).get(URL, _shift(team), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="whatif">') and "<html" not in page
    assert 'hx-push-url="true"' in page


def test_query_count_does_not_grow_with_usage(finance, team, usage, simulated, django_assert_max_num_queries):
    client = login(finance)
    client.get(URL, _shift(team))
    with django_assert_max_num_queries(9) as small:
        client.get(URL, _shift(team))
    for _ in range(6):
        extra = TeamFactory()
        key = KeyFactory(account=simulated, team=extra, owner_project=ProjectFactory(team=extra, kind="run"),
                         owner_user=None)  # fmt: skip
        for model in (BIG, SMALL):
            spend(key, "1.00", day=USAGE_DAY, model=model, tokens=(1000, 100, 0, 100), summarise=False)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(URL, _shift(team))
    assert response.status_code == 200
