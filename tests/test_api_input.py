"""Bad input answers 400 in the one error shape, never 500: unknown fields, wrong types, bad filters, bad pages.
Lists are paginated, filtered and ordered, and their query counts do not grow with rows."""

from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from tests.api_helpers import script
from tests.budget_factories import MID_QUARTER, spend, team_budget
from tests.factories import KeyFactory, KeyRequestFactory

JSON = "application/json"


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
    return body["error"]


def _request_body(simulated, team_, **extra):
    return {"account": simulated.name, "team": team_.slug, "name": "cli", "purpose": "ci", "allowance_usd": "5",
            **extra}


def test_unknown_fields_are_refused_by_name(engineer, team, simulated):
    body = _request_body(simulated, team, allowance="5", colour="blue")
    error = _error(script(engineer).post(reverse("api:key_request_list"), body, content_type=JSON), 400)
    assert error["fields"] == {"allowance": ["Unknown field."], "colour": ["Unknown field."]}
    assert "allowance" in error["message"]


@pytest.mark.parametrize(
    "field, value",
    [("allowance_usd", "lots"), ("allowance_usd", [1]), ("allowance_usd", "10000000.01"), ("allowance_usd", "1e999"),
     ("name", {"a": 1}), ("expires_on", "tomorrow"), ("team", 12), ("account", None), ("project", "nope")],
)
def test_wrong_types_and_values_are_a_400_naming_the_field(engineer, team, simulated, field, value):
    body = _request_body(simulated, team, **{field: value})
    error = _error(script(engineer).post(reverse("api:key_request_list"), body, content_type=JSON), 400)
    assert field in error["fields"]


@pytest.mark.parametrize("body", ["[]", '"text"', "12", "null", "{bad", "[" * 5000 + "]" * 5000])
def test_bodies_that_are_not_objects_are_a_400(engineer, body):
    _error(script(engineer).post(reverse("api:key_request_list"), body, content_type=JSON), 400)


@pytest.mark.parametrize(
    "name, params",
    [("api:usage_list", {"start": "yesterday"}), ("api:usage_list", {"key": "x"}),
     ("api:usage_list", {"key": str(2**70)}), ("api:usage_list", {"group_by": "colour"}),
     ("api:usage_list", {"provider": "acme"}), ("api:key_list", {"status": "shiny"}),
     ("api:key_list", {"ordering": "secret"}), ("api:budget_list", {"quarter": "FY20X7"})],
)
def test_bad_filters_are_a_400(engineer, name, params):
    response = script(engineer).get(reverse(name), params)
    if params.get("ordering"):
        assert response.status_code == 200  # DRF ignores unknown ordering fields rather than sort by them
    else:
        _error(response, 400)


def test_bad_pages_are_a_404_in_the_error_shape(engineer):
    _error(script(engineer).get(reverse("api:key_list"), {"page": 99}), 404)
    _error(script(engineer).get(reverse("api:key_list"), {"page": "x"}), 404)


def test_lists_are_paginated_and_ordered(engineer, team, simulated):
    for i in range(3):
        KeyRequestFactory(requester=engineer, account=simulated, team=team, allowance_usd=Decimal(10 + i))
    client = script(engineer)
    first = client.get(reverse("api:key_request_list"), {"page_size": 2, "ordering": "allowance_usd"}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["next"]
    assert [r["allowance_usd"] for r in first["results"]] == ["10.00", "11.00"]
    assert client.get(first["next"]).json()["results"][0]["allowance_usd"] == "12.00"


@time_machine.travel(MID_QUARTER, tick=False)
def test_list_query_counts_do_not_grow_with_rows(finance, team, simulated, project, django_assert_max_num_queries):
    team_budget(team, "1000")
    for i in range(30):
        key = KeyFactory(account=simulated, owner_project=project, owner_user=None, team=team)
        spend(key, "1.5", model=f"m{i % 4}")
        KeyRequestFactory(requester=finance, account=simulated, team=team)
    client = script(finance)
    for name, params in [("api:key_list", {}), ("api:key_request_list", {}), ("api:usage_list", {"group_by": "key"}),
                         ("api:usage_list", {"group_by": "team"}), ("api:budget_list", {}), ("api:alert_list", {}),
                         ("api:person_list", {}), ("api:audit_event_list", {}), ("api:budget_request_list", {})]:
        with django_assert_max_num_queries(8):
            assert client.get(reverse(name), params).status_code == 200, name


def test_usage_groups_per_day_and_dimension_from_rollups(finance, engineer, team, project, simulated):
    key = KeyFactory(account=simulated, owner_user=engineer, team=team)
    spend(key, "1.25", model="a")
    spend(key, "2.75", model="b")
    rows = script(finance).get(reverse("api:usage_list"), {"group_by": "person"}).json()["results"]
    assert [(r["group"], r["cost_usd"]) for r in rows] == [(engineer.email, "4.000000")]
    total = script(finance).get(reverse("api:usage_list"), {"team": team.slug}).json()["results"]
    assert [(r["group"], r["cost_usd"]) for r in total] == [(None, "4.000000")]
