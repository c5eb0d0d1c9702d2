"""The OpenAPI schema validates with no warnings, documents the real statuses, and a bounded schemathesis run
against the live schema (the WSGI app, with a personal token) finds no 5xx and no response the schema forbids."""

from __future__ import annotations

import io

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_helpers import token_for
from tests.budget_factories import AlertFactory, BudgetRequestFactory, simulated_key, team_budget, user_budget
from tests.factories import KeyRequestFactory


def test_spectacular_validates_with_no_warnings(db):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null", stdout=out, stderr=out)


def test_the_schema_documents_statuses_required_fields_and_formats(finance, client_for):
    schema = client_for(finance).get("/api/v1/schema/", headers={"Accept": "application/json"}).json()
    create = schema["paths"]["/api/v1/key-requests/"]["post"]
    assert {"201", "400", "403", "429"} <= set(create["responses"])
    assert create["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    body = schema["components"]["schemas"]["KeyRequestCreateRequest"]
    assert set(body["required"]) == {"account", "team", "name", "purpose", "allowance_usd"}
    assert body["properties"]["allowance_usd"]["format"] == "decimal"
    assert {"404", "409"} <= set(schema["paths"]["/api/v1/key-requests/{id}/approve/"]["post"]["responses"])
    assert schema["components"]["schemas"]["Key"]["properties"]["created_at"]["format"] == "date-time"
    assert "bearerAuth" in schema["components"]["securitySchemes"]


@pytest.fixture
def fuzz_world(cast, simulated, team, project):
    """A little of everything, so generated ids sometimes hit real rows."""
    engineer = cast["engineer"]
    simulated_key(simulated, team=team, owner_user=engineer)
    KeyRequestFactory(requester=engineer, account=simulated, team=team)
    budget = team_budget(team, "1000")
    BudgetRequestFactory(budget=user_budget(engineer, team, "100"), requester=engineer)
    AlertFactory(team=team, budget=budget)
    return token_for(cast["manager"])


@pytest.fixture
def wsgi_app():
    """The project's WSGI app in this process, on the test's database connection (as Django's test client
    keeps it: the handler's signals would otherwise close it after each request)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(fuzz_world, settings, wsgi_app):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "token": "100000/min"}}
    headers = {"Authorization": f"Bearer {fuzz_world}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app, headers=headers)
    schema.config.headers = headers
    return schema


EXAMPLES_PER_OPERATION = 6
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@pytest.mark.fuzz
def test_fuzzing_finds_no_server_errors_and_no_off_schema_responses(api_schema, fuzz_world):
    """Every operation, a fixed number of valid and of invalid generated requests each (derandomized, so a
    failure reproduces)."""
    headers = {"Authorization": f"Bearer {fuzz_world}"}
    problems: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30

    for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def check(case):
            response = case.call(headers=headers)
            body = "" if type(case.body).__name__ == "NotSet" else str(case.body)[:200]
            where = f"{case.method} {case.formatted_path} {case.query or ''} {body}"
            if response.status_code >= 500:
                problems.append(f"{where}: {response.status_code}")
                return
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except BaseExceptionGroup as error:  # collect every operation's problems, report them together
                problems.append(f"{where}: {str(error)[:400]}")

        check()
    assert not problems, "\n".join(problems[:20])
