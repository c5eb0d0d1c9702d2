"""Every API endpoint × every role, with the endpoint's real method and a valid body, through personal tokens:
the statuses follow the pages' rules (other teams' objects 404, not allowed 403). An unlisted API route fails.

Columns: anonymous, engineer, manager (of the engineer's team), finance, admin, outsider (other team). Objects
belong to the engineer's team and are made afresh for every call, so one role's action cannot change the next's.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse

from budgets.models import BudgetRequest
from tests.api_helpers import script
from tests.budget_factories import AlertFactory, BudgetRequestFactory, simulated_key, team_budget, user_budget
from tests.factories import KeyRequestFactory
from tests.test_role_matrix import ROLES, _url_names

ALL_200 = (403, 200, 200, 200, 200, 200)
FINANCE_200 = (403, 403, 403, 200, 200, 403)


def _request_body(o):
    return {"account": o["account"].name, "team": o["team"].slug, "name": "cli", "purpose": "ci",
            "allowance_usd": "500"}


# name: (method, object in the URL, body, statuses in ROLES order)
MATRIX = {
    "api:key_list": ("get", None, None, ALL_200),
    "api:key_detail": ("get", "key", None, (403, 200, 200, 200, 200, 404)),
    "api:key_reveal": ("post", "key", None, (403, 200, 403, 403, 403, 404)),
    "api:key_rotate": ("post", "key", None, (403, 200, 200, 403, 200, 404)),
    "api:key_revoke": ("post", "key", {"reason": "done"}, (403, 200, 200, 403, 200, 404)),
    "api:key_suspend": ("post", "key", {"reason": "pause"}, (403, 403, 200, 403, 200, 404)),
    "api:key_reinstate": ("post", "suspended_key", {}, (403, 403, 200, 403, 200, 404)),
    "api:key_request_list": ("post", None, _request_body, (403, 201, 201, 400, 201, 400)),
    "api:key_request_detail": ("get", "request", None, (403, 200, 200, 200, 200, 404)),
    "api:key_request_approve": ("post", "request", None, (403, 403, 200, 403, 200, 404)),
    "api:key_request_reject": ("post", "request", {"reason": "no"}, (403, 403, 200, 403, 200, 404)),
    "api:key_request_cancel": ("post", "request", None, (403, 200, 200, 403, 200, 404)),
    "api:budget_request_list": ("post", None, lambda o: {"budget": o["user_budget"].pk, "amount_usd": "5",
                                                         "reason": "more"}, (403, 201, 400, 400, 400, 400)),
    "api:budget_request_detail": ("get", "bump", None, (403, 200, 200, 200, 200, 404)),
    "api:budget_request_approve": ("post", "bump", None, (403, 403, 200, 403, 200, 404)),
    "api:budget_request_reject": ("post", "bump", {"reason": "no"}, (403, 403, 200, 403, 200, 404)),
    "api:budget_request_cancel": ("post", "bump", None, (403, 200, 200, 403, 200, 404)),
    "api:budget_list": ("post", None, lambda o: {"team": o["team"].slug, "amount_usd": "900"},
                        (403, 403, 403, 200, 200, 403)),
    "api:budget_split": ("post", None, lambda o: {"team": o["team"].slug, "user": o["engineer"].email,
                                                  "amount_usd": "50"}, (403, 403, 200, 200, 200, 403)),
    "api:usage_list": ("get", None, None, ALL_200),
    "api:leaderboard": ("get", None, None, ALL_200),
    "api:efficiency": ("get", None, None, ALL_200),
    "api:adoption": ("get", None, None, ALL_200),
    "api:coding_tools": ("get", None, None, ALL_200),
    "api:compare": ("get", None, lambda o: {"team": o["team"].slug}, (403, 403, 200, 200, 200, 404)),
    "api:chargeback": ("get", None, None, (403, 403, 200, 200, 200, 403)),
    "api:capacity": ("get", None, None, (403, 403, 200, 200, 200, 403)),
    "api:chargeback_export": ("get", "format", None, (403, 403, 200, 200, 200, 403)),
    "api:concentration": ("get", None, None, (403, 403, 200, 200, 200, 403)),
    "api:what_if": ("get", None, None, (403, 403, 200, 200, 200, 403)),
    "api:alert_list": ("get", None, None, ALL_200),
    "api:alert_retry": ("post", "alert", None, (403, 403, 200, 200, 200, 404)),
    "api:provider_account_list": ("get", None, None, ALL_200),
    "api:sync_now": ("post", "account", None, (403, 403, 403, 202, 202, 403)),
    "api:sync_run_list": ("get", None, None, FINANCE_200),
    "api:audit_event_list": ("get", None, None, FINANCE_200),
    "api:cost_center_list": ("get", None, None, ALL_200),
    "api:team_list": ("get", None, None, ALL_200),
    "api:project_list": ("get", None, None, ALL_200),
    "api:person_list": ("get", None, None, ALL_200),
    "api:schema": ("get", None, None, ALL_200),
    # Swagger UI is a page for a signed-in browser (tests/test_role_matrix.py checks it with sessions).
    "api:docs": ("get", None, None, (302, 302, 302, 302, 302, 302)),
}
# The unsafe lists above are walked with POST; their GETs too.
LIST_GETS = ["api:key_request_list", "api:budget_request_list", "api:budget_list"]


def test_every_api_route_is_in_the_matrix():
    missing = sorted(n for n in _url_names() if n.startswith("api:") and n not in MATRIX)
    assert not missing, f"Add these API routes to MATRIX in {__file__}: {missing}"


def _fresh(cast, simulated, team) -> dict:
    engineer = cast["engineer"]
    key = simulated_key(simulated, team=team, owner_user=engineer)
    key.hold_secret("sk-sim-matrix", hours=24)
    key.save()
    suspended = simulated_key(simulated, team=team, owner_user=engineer)
    suspended.account.adapter().suspend_key(provider_key_id=suspended.provider_key_id, provider_data={})
    suspended.mark_suspended("paused")
    suspended.save()
    budget = team_budget(team, "1000") if not team.budgets.exists() else team.budgets.get(scope="team")
    mine = user_budget(engineer, team, "100") if not team.budgets.filter(scope="user").exists() else (
        team.budgets.get(scope="user"))
    return {
        "engineer": engineer,
        "key": key,
        "suspended_key": suspended,
        "request": KeyRequestFactory(requester=engineer, account=simulated, team=team),
        "bump": BudgetRequestFactory(budget=mine, requester=engineer, amount_usd=5),
        "user_budget": mine,
        "alert": AlertFactory(team=team, budget=budget, status="failed"),
        "account": simulated,
        "team": team,
        "format": SimpleNamespace(pk="csv"),  # the export's format, in place of an object id
    }


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_api_role_matrix(name, cast, simulated, team, client):
    method, arg, body, expected = MATRIX[name]
    for role, status in zip(ROLES, expected, strict=True):
        objects = _fresh(cast, simulated, team)
        pending = BudgetRequest.objects.filter(state="pending")
        if name == "api:budget_request_list":  # one waiting request per person and budget
            pending.update(state="cancelled")
        url = reverse(name, args=[objects[arg].pk] if arg else [])
        caller = client if role == "anonymous" else script(cast[role])
        data = body(objects) if callable(body) else body
        send = caller.get if method == "get" else caller.post
        # A GET's "body" is its query string.
        response = send(url, data or {}) if method == "get" else send(url, data or {}, content_type="application/json")
        assert response.status_code == status, f"{method.upper()} {name} as {role}: {response.status_code} " \
                                               f"{response.content[:300]!r}, expected {status}"


@pytest.mark.parametrize("name", LIST_GETS)
def test_list_gets(name, cast, client):
    for role, status in zip(ROLES, ALL_200, strict=True):
        caller = client if role == "anonymous" else script(cast[role])
        assert caller.get(reverse(name)).status_code == status, f"GET {name} as {role}"
