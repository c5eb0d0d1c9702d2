"""Object-level access (IDOR): every page and API endpoint whose URL names an object of the engineer's team (a key,
key request, budget, bump, alert, increase request, the team, a person, an API token) is asked by an engineer and by
a manager of another team, with GET and POST on the pages and the endpoint's real method on the API. Each answers
404 or 403, and nothing changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.api_tokens import ApiToken
from accounts.models import AuditEvent, Membership
from allocator.models import Key, KeyRequest
from budgets.models import Alert, Budget, BudgetRequest, SpendLimitRequest
from tests import test_api_role_matrix as api_matrix
from tests import test_role_matrix as page_matrix
from tests.api_helpers import script
from tests.conftest import login
from tests.factories import MembershipFactory, UserFactory
from tests.test_role_matrix import objects as page_objects  # noqa: F401 - the page matrix's objects fixture

TEAM_OBJECTS = {"key", "suspended_key", "request", "budget", "bump", "alert", "increase", "team", "person", "token"}
WATCHED = (Key, KeyRequest, Budget, BudgetRequest, Alert, SpendLimitRequest)
# Any field a person may type on the pages' forms, so a view that validates before it checks access still has
# everything it could want.
FORM = {"reason": "x", "amount_usd": "5", "confirm": "on", "decision": "approve", "allowance_usd": "5"}

PAGE_NAMES = sorted(name for name, (kind, _) in page_matrix.MATRIX.items() if kind in TEAM_OBJECTS)
API_NAMES = sorted(name for name, (_, kind, _, _) in api_matrix.MATRIX.items() if kind in TEAM_OBJECTS)


@pytest.fixture
def strangers(outsider, other_team) -> dict:
    other_manager = UserFactory(email="other-manager@example.com", full_name="Olga Othermanager")
    MembershipFactory(user=other_manager, team=other_team, role=Membership.Role.MANAGER)
    return {"engineer of another team": outsider, "manager of another team": other_manager}


def snapshot(strangers: dict) -> tuple:
    rows = tuple(tuple(model.objects.order_by("pk").values()) for model in WATCHED)
    tokens = tuple(ApiToken.objects.exclude(user__in=strangers.values()).order_by("pk").values())  # theirs: last used
    return rows, tokens, AuditEvent.objects.count()


def test_the_objects_are_every_kind_a_url_names():
    named = {kind for kind, _ in page_matrix.MATRIX.values() if kind}
    # admin's (accounts, coding-tool identities), finance's, a provider limit the whole organisation shares (the role
    # matrices cover them), not an object
    assert named - TEAM_OBJECTS == {"account", "identity", "cost_center", "limit", "format"}


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_pages_of_another_teams_object(name, cast, page_objects, strangers):  # noqa: F811
    kind, _ = page_matrix.MATRIX[name]
    url = reverse(name, args=[page_objects[kind].pk])
    for who, user in strangers.items():
        client = login(user)
        before = snapshot(strangers)
        get = client.get(url)
        post = client.post(url, FORM)
        assert get.status_code in (403, 404, 405), f"GET {name} as {who}: {get.status_code}"
        assert post.status_code in (403, 404, 405), f"POST {name} as {who}: {post.status_code}"  # 405: GET only
        assert snapshot(strangers) == before, f"{name} as {who} changed something"


@pytest.mark.parametrize("name", API_NAMES)
def test_api_of_another_teams_object(name, cast, simulated, team, strangers):
    method, kind, body, _ = api_matrix.MATRIX[name]
    objects = api_matrix._fresh(cast, simulated, team)
    url = reverse(name, args=[objects[kind].pk])
    data = body(objects) if callable(body) else body
    for who, user in strangers.items():
        caller = script(user)
        before = snapshot(strangers)
        if method == "get":
            response = caller.get(url)
        else:
            response = caller.post(url, data or FORM, content_type="application/json")
        assert response.status_code in (403, 404), f"{method.upper()} {name} as {who}: {response.status_code}"
        assert snapshot(strangers) == before, f"{name} as {who} changed something"
