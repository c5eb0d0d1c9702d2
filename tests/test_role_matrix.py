"""Every URL name × every role → the expected status of a GET. An unlisted URL fails the test.

Columns: anonymous, engineer, manager (of the engineer's team), finance, admin, outsider (other team).
Objects in URLs belong to the engineer's team: the engineer's key and key request, a provider account,
the team, its cost center, its budget, the engineer's budget request and an alert about the team.
"""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.api_tokens import api_token_create
from allocator.models import CodingIdentity, Key, KeyRequest, ProviderAccount, RateLimitRecord
from budgets.models import SpendLimitRequest
from tests.budget_factories import AlertFactory, BudgetRequestFactory, team_budget, user_budget
from tests.conftest import login
from tests.factories import KeyFactory, KeyRequestFactory

ROLES = ["anonymous", "engineer", "manager", "finance", "admin", "outsider"]

# name: (argument kind, statuses in ROLES order)
MATRIX: dict[str, tuple[str | None, tuple[int, ...]]] = {
    "home": (None, (302, 200, 200, 200, 200, 200)),
    "healthz": (None, (200, 200, 200, 200, 200, 200)),
    "api:schema": (None, (403, 200, 200, 200, 200, 200)),
    "api:docs": (None, (302, 200, 200, 200, 200, 200)),
    "admin:index": (None, (302, 302, 302, 302, 200, 302)),
    "accounts:login": (None, (200, 302, 302, 302, 302, 302)),
    "accounts:logout": (None, (405, 405, 405, 405, 405, 405)),
    "accounts:organisation": (None, (302, 200, 200, 200, 200, 200)),
    "accounts:audit": (None, (302, 403, 403, 200, 200, 403)),
    "accounts:audit_export": (None, (302, 403, 403, 200, 200, 403)),
    "accounts:tokens": (None, (302, 200, 200, 200, 200, 200)),
    "accounts:token_revoke": ("token", (302, 405, 405, 405, 405, 405)),
    "accounts:notifications": (None, (302, 200, 200, 200, 200, 200)),
    "accounts:notifications_read": (None, (302, 405, 405, 405, 405, 405)),
    "allocator:key_list": (None, (302, 200, 200, 200, 200, 200)),
    "allocator:key_admin_list": (None, (302, 403, 403, 403, 200, 403)),
    "allocator:key_team_list": (None, (302, 403, 200, 200, 200, 403)),
    "allocator:key_detail": ("key", (302, 200, 200, 200, 200, 404)),
    "allocator:key_cost_sources": ("key", (302, 200, 200, 200, 200, 404)),
    "allocator:key_reveal": ("key", (302, 200, 200, 200, 200, 404)),
    "allocator:key_rotate": ("key", (302, 200, 200, 403, 200, 404)),
    "allocator:key_revoke": ("key", (302, 200, 200, 403, 200, 404)),
    "allocator:key_suspend": ("key", (302, 403, 200, 403, 200, 404)),
    "allocator:key_reinstate": ("key", (302, 403, 200, 403, 200, 404)),
    "allocator:request_create": (None, (302, 200, 200, 200, 200, 200)),
    "allocator:request_detail": ("request", (302, 200, 200, 200, 200, 404)),
    "allocator:request_status": ("request", (302, 200, 200, 200, 200, 404)),
    "allocator:request_approve": ("request", (302, 405, 405, 405, 405, 405)),
    "allocator:request_reject": ("request", (302, 405, 405, 405, 405, 405)),
    "allocator:request_cancel": ("request", (302, 405, 405, 405, 405, 405)),
    "allocator:request_retry": ("request", (302, 405, 405, 405, 405, 405)),
    "allocator:approvals": (None, (302, 403, 200, 200, 200, 403)),
    "allocator:account_list": (None, (302, 403, 403, 403, 200, 403)),
    "allocator:account_create": (None, (302, 403, 403, 403, 200, 403)),
    "allocator:account_detail": ("account", (302, 403, 403, 403, 200, 403)),
    "allocator:account_edit": ("account", (302, 403, 403, 403, 200, 403)),
    "allocator:account_test": ("account", (302, 405, 405, 405, 405, 405)),
    "allocator:account_unmanaged": ("account", (302, 403, 403, 403, 200, 403)),
    "allocator:account_import_key": ("account", (302, 405, 405, 405, 405, 405)),
    "allocator:account_revoke_remote": ("account", (302, 405, 405, 405, 405, 405)),
    "allocator:coding_identities": (None, (302, 403, 403, 403, 200, 403)),
    "allocator:coding_identity_map": ("identity", (302, 405, 405, 405, 405, 405)),
    "allocator:policy": (None, (302, 403, 403, 403, 200, 403)),
    "allocator:sync_status": (None, (302, 403, 403, 200, 200, 403)),
    "allocator:sync_now": ("account", (302, 405, 405, 405, 405, 405)),
    "allocator:sync_account_status": ("account", (302, 403, 403, 200, 200, 403)),
    "budgets:overview": (None, (302, 403, 200, 200, 200, 403)),
    "capacity:headroom": (None, (302, 403, 200, 200, 200, 403)),
    "capacity:detail": ("limit", (302, 403, 200, 200, 200, 403)),
    "capacity:limit_record": (None, (302, 403, 403, 403, 200, 403)),
    "capacity:limit_remove": ("limit", (302, 405, 405, 405, 405, 405)),
    "budgets:set": (None, (302, 403, 403, 200, 200, 403)),
    "budgets:copy": (None, (302, 403, 403, 200, 200, 403)),
    "budgets:detail": ("budget", (302, 200, 200, 200, 200, 404)),
    "budgets:team": ("team", (302, 403, 200, 200, 200, 404)),
    "budgets:team_split": ("team", (302, 403, 302, 302, 302, 404)),
    "budgets:person": ("person", (302, 200, 200, 200, 200, 404)),
    "budgets:bump_create": (None, (302, 200, 200, 200, 200, 200)),
    "budgets:bump_detail": ("bump", (302, 200, 200, 200, 200, 404)),
    "budgets:bump_approve": ("bump", (302, 405, 405, 405, 405, 405)),
    "budgets:bump_reject": ("bump", (302, 405, 405, 405, 405, 405)),
    "budgets:bump_cancel": ("bump", (302, 405, 405, 405, 405, 405)),
    "budgets:increase_approve": ("increase", (302, 405, 405, 405, 405, 405)),
    "budgets:increase_reject": ("increase", (302, 405, 405, 405, 405, 405)),
    "budgets:alerts": (None, (302, 200, 200, 200, 200, 200)),
    "budgets:alert_retry": ("alert", (302, 405, 405, 405, 405, 405)),
    "budgets:slack_settings": (None, (302, 403, 403, 403, 200, 403)),
    "budgets:slack_interactions": (None, (405, 405, 405, 405, 405, 405)),
    "budgets:leaderboard": (None, (302, 200, 200, 200, 200, 200)),
    "budgets:efficiency": (None, (302, 200, 200, 200, 200, 200)),
    "budgets:adoption": (None, (302, 200, 200, 200, 200, 200)),
    "budgets:compare_team": ("team", (302, 403, 200, 200, 200, 404)),
    "budgets:compare_cost_center": ("cost_center", (302, 403, 403, 200, 200, 403)),
    "budgets:chargeback": (None, (302, 403, 200, 200, 200, 403)),
    "budgets:chargeback_export": ("format", (302, 403, 200, 200, 200, 403)),
    "budgets:chargeback_close": (None, (302, 403, 403, 200, 200, 403)),
    "budgets:chargeback_customers": (None, (302, 405, 405, 405, 405, 405)),
    "budgets:chargeback_invoice": (None, (302, 405, 405, 405, 405, 405)),
    "budgets:stripe_webhook": (None, (405, 405, 405, 405, 405, 405)),
    "budgets:concentration": (None, (302, 403, 200, 200, 200, 403)),
    "budgets:what_if": (None, (302, 403, 200, 200, 200, 403)),
    # The API's GETs; tests/test_api_role_matrix.py walks every endpoint with its real method.
    "api:key_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:key_detail": ("key", (403, 200, 200, 200, 200, 404)),
    "api:key_reveal": ("key", (403, 405, 405, 405, 405, 405)),
    "api:key_rotate": ("key", (403, 405, 405, 405, 405, 405)),
    "api:key_revoke": ("key", (403, 405, 405, 405, 405, 405)),
    "api:key_suspend": ("key", (403, 405, 405, 405, 405, 405)),
    "api:key_reinstate": ("key", (403, 405, 405, 405, 405, 405)),
    "api:key_request_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:key_request_detail": ("request", (403, 200, 200, 200, 200, 404)),
    "api:key_request_approve": ("request", (403, 405, 405, 405, 405, 405)),
    "api:key_request_reject": ("request", (403, 405, 405, 405, 405, 405)),
    "api:key_request_cancel": ("request", (403, 405, 405, 405, 405, 405)),
    "api:budget_request_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:budget_request_detail": ("bump", (403, 200, 200, 200, 200, 404)),
    "api:budget_request_approve": ("bump", (403, 405, 405, 405, 405, 405)),
    "api:budget_request_reject": ("bump", (403, 405, 405, 405, 405, 405)),
    "api:budget_request_cancel": ("bump", (403, 405, 405, 405, 405, 405)),
    "api:budget_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:budget_split": (None, (403, 405, 405, 405, 405, 405)),
    "api:usage_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:leaderboard": (None, (403, 200, 200, 200, 200, 200)),
    "api:efficiency": (None, (403, 200, 200, 200, 200, 200)),
    "api:adoption": (None, (403, 200, 200, 200, 200, 200)),
    "api:coding_tools": (None, (403, 200, 200, 200, 200, 200)),
    "api:compare": (None, (403, 400, 400, 400, 400, 400)),  # needs ?team= or ?cost_center= (test_api_boards.py)
    "api:chargeback": (None, (403, 403, 200, 200, 200, 403)),
    "api:chargeback_export": ("format", (403, 403, 200, 200, 200, 403)),
    "api:concentration": (None, (403, 403, 200, 200, 200, 403)),
    "api:what_if": (None, (403, 403, 200, 200, 200, 403)),
    "api:alert_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:alert_retry": ("alert", (403, 405, 405, 405, 405, 405)),
    "api:provider_account_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:sync_now": ("account", (403, 403, 403, 405, 405, 403)),
    "api:sync_run_list": (None, (403, 403, 403, 200, 200, 403)),
    "api:audit_event_list": (None, (403, 403, 403, 200, 200, 403)),
    "api:cost_center_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:team_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:project_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:person_list": (None, (403, 200, 200, 200, 200, 200)),
    "api:capacity": (None, (403, 403, 200, 200, 200, 403)),
}


def _url_names(resolver: URLResolver | None = None, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            namespace = pattern.namespace
            if namespace == "admin":
                names.add("admin:index")  # the Django admin guards itself with is_staff
                continue
            names |= _url_names(pattern, f"{prefix}{namespace}:" if namespace else prefix)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(prefix + pattern.name)
    return names


def test_every_url_is_in_the_matrix():
    missing = sorted(_url_names() - set(MATRIX))
    assert not missing, f"Add these URL names to MATRIX in {__file__}: {missing}"


@pytest.fixture
def objects(cast, simulated, team):
    key = KeyFactory(account=simulated, owner_user=cast["engineer"], team=team)
    key_request = KeyRequestFactory(requester=cast["engineer"], account=simulated, team=team)
    budget = team_budget(team, "1000")
    bump = BudgetRequestFactory(budget=user_budget(cast["engineer"], team, "100"), requester=cast["engineer"])
    alert = AlertFactory(scope_key=budget.scope_key, team=team, budget=budget)
    increase = SpendLimitRequest.objects.create(
        account=simulated, provider_request_id="slir_1", requester=cast["engineer"], requester_email="e@x", team=team
    )
    expires_on = date.today() + timedelta(days=30)
    token, _ = api_token_create(user=cast["engineer"], name="ci", read_only=True, expires_on=expires_on)
    coding = ProviderAccount.objects.create(name="Claude Code", kind="claude_code")
    identity = CodingIdentity.objects.create(
        account=coding, external_id="someone@elsewhere.test", first_seen=date.today(), last_seen=date.today()
    )
    limit = RateLimitRecord.objects.create(
        account=simulated, model="gpt-4.1", dimension="tokens_per_minute", value=1000, source="provider"
    )
    return {
        "identity": identity,
        "limit": limit,
        "increase": increase,
        "token": token,
        "key": key,
        "request": key_request,
        "account": simulated,
        "team": team,
        "cost_center": team.cost_center,
        "budget": budget,
        "bump": bump,
        "alert": alert,
        "person": cast["engineer"],
        "format": SimpleNamespace(pk="csv"),  # the export's format, in place of an object id
    }


def _objects_for(name: str, objects: dict) -> dict:
    """Fresh state per request so one role's visit cannot change what the next sees."""
    Key.objects.filter(pk=objects["key"].pk).update(status=Key.Status.ACTIVE)
    KeyRequest.objects.filter(pk=objects["request"].pk).update(state="pending", awaiting_step="manager")
    if name == "allocator:key_reinstate":
        Key.objects.filter(pk=objects["key"].pk).update(status=Key.Status.SUSPENDED)
    return objects


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_role_matrix(name, cast, objects, client):
    arg_kind, expected = MATRIX[name]
    for role, status in zip(ROLES, expected, strict=True):
        objs = _objects_for(name, objects)
        args = [objs[arg_kind].pk] if arg_kind else []
        browser = client if role == "anonymous" else login(cast[role])
        response = browser.get(reverse(name, args=args))
        assert response.status_code == status, f"{name} as {role}: {response.status_code}, expected {status}"
