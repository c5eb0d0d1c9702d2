from decimal import Decimal

from django.urls import reverse

from allocator.models import KeyRequest
from tests.conftest import login
from tests.factories import KeyFactory, KeyRequestFactory


def test_create_key_request_and_errors_have_one_shape(engineer, team, simulated, policy):
    client = login(engineer)
    url = reverse("api:key_request_list")
    created = client.post(
        url,
        {"account": simulated.name, "team": team.slug, "name": "cli", "purpose": "scripts", "allowance_usd": "500"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["state"] == "pending" and created.json()["awaiting_step"] == "manager"

    bad = client.post(url, {"account": simulated.name, "team": team.slug}, content_type="application/json")
    assert bad.status_code == 400
    body = bad.json()["error"]
    assert body["code"] == "invalid" and "name" in body["fields"] and "purpose" in body["fields"]


def test_api_approve_uses_the_same_rules_as_the_web(engineer, manager, outsider, team, simulated, policy):
    key_request = KeyRequestFactory(requester=engineer, account=simulated, team=team, allowance_usd=Decimal("500"))
    url = reverse("api:key_request_approve", args=[key_request.pk])
    assert login(engineer).post(url).json()["error"]["code"] == "permission_denied"
    assert login(outsider).post(url).status_code == 404
    response = login(manager).post(url)
    assert response.status_code == 200 and response.json()["state"] == "approved"
    again = login(manager).post(url)
    assert again.status_code == 409 and "Already decided" in again.json()["error"]["message"]
    key_request.refresh_from_db()
    assert key_request.state in (KeyRequest.State.APPROVED, KeyRequest.State.MINTED)


def test_api_reject_requires_a_reason(engineer, manager, team, simulated):
    key_request = KeyRequestFactory(requester=engineer, account=simulated, team=team)
    url = reverse("api:key_request_reject", args=[key_request.pk])
    assert login(manager).post(url, {}, content_type="application/json").status_code == 400
    response = login(manager).post(url, {"reason": "no budget"}, content_type="application/json")
    assert response.json()["state"] == "rejected"


def test_key_list_is_scoped_and_never_contains_secrets(engineer, outsider, team, other_team, simulated):
    mine = KeyFactory(account=simulated, owner_user=engineer, team=team, pending_secret="sk-sim-SECRET")
    KeyFactory(account=simulated, owner_user=outsider, team=other_team)
    response = login(engineer).get(reverse("api:key_list"))
    keys = response.json()["results"]
    assert [k["id"] for k in keys] == [mine.pk] and response.json()["count"] == 1
    assert b"sk-sim-SECRET" not in response.content and keys[0]["secret_available"] is True


def test_anonymous_api_calls_are_refused(client, db):
    response = client.get(reverse("api:key_list"))
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_authenticated"
