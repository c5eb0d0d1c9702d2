"""Personal API tokens: created on the settings page and shown once, stored hashed, listed with last use,
revocable, audited; they act as their owner and never more; read-only ones refuse writes; throttled with 429."""

from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.api_tokens import ApiToken, token_hash
from accounts.models import AuditEvent
from tests.api_helpers import script, token_for
from tests.conftest import login
from tests.factories import KeyFactory


def _create(browser, **data):
    expires = (timezone.now().date() + timedelta(days=30)).isoformat()
    return browser.post(reverse("accounts:tokens"), {"name": "ci", "access": "read", "expires_on": expires, **data})


def test_a_token_is_shown_once_stored_hashed_and_audited(engineer):
    browser = login(engineer)
    page = _create(browser, access="write")
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    token = ApiToken.objects.get(user=engineer)
    raw = page.context["created"][1]
    assert raw.startswith(token.prefix) and raw in page.content.decode()
    assert token.token_hash == token_hash(raw) and raw not in str(ApiToken.objects.values().get())
    assert token.read_only is False
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor == engineer and raw not in str(event.details)

    again = browser.get(reverse("accounts:tokens")).content.decode()
    assert raw not in again and f"{token.prefix}…" in again and "never" in again


def test_the_user_menu_links_the_tokens_page(engineer):
    assert reverse("accounts:tokens") in login(engineer).get(reverse("home")).content.decode()


def test_bad_names_and_expiry_dates_are_refused_with_messages(engineer):
    browser = login(engineer)
    past = _create(browser, expires_on=(timezone.now().date() - timedelta(days=1)).isoformat())
    assert "must be in the future" in past.content.decode()
    far = _create(browser, expires_on=(timezone.now().date() + timedelta(days=400)).isoformat())
    assert "at most 366 days" in far.content.decode()
    assert _create(browser, name="x" * 81).status_code == 200
    assert not ApiToken.objects.exists()


def test_a_token_authenticates_records_last_use_and_stops_when_revoked(engineer):
    raw = token_for(engineer)
    response = script(token=raw).get(reverse("api:key_list"))
    assert response.status_code == 200
    token = ApiToken.objects.get()
    assert token.last_used_at is not None

    browser = login(engineer)
    assert browser.post(reverse("accounts:token_revoke", args=[token.pk])).status_code == 302
    assert AuditEvent.objects.filter(action="api_token.revoked", actor=engineer).count() == 1
    refused = script(token=raw).get(reverse("api:key_list"))
    assert refused.status_code == 403
    assert refused.json()["error"] == {"code": "authentication_failed",
                                       "message": "The token is unknown, expired or revoked."}
    assert "revoked" in browser.get(reverse("accounts:tokens")).content.decode()


def test_nobody_revokes_another_persons_token(engineer, outsider):
    token_for(engineer)
    token = ApiToken.objects.get()
    assert login(outsider).post(reverse("accounts:token_revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_expired_and_unknown_tokens_are_refused(engineer):
    raw = token_for(engineer, days=1)
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        assert script(token=raw).get(reverse("api:key_list")).status_code == 403
    assert script(token="alloc_" + "x" * 43).get(reverse("api:key_list")).status_code == 403
    assert script(token="not-a-token").get(reverse("api:key_list")).status_code == 403


def test_a_token_acts_as_its_owner_and_never_more(engineer, outsider, team, other_team, simulated):
    theirs = KeyFactory(account=simulated, owner_user=outsider, team=other_team)
    client = script(engineer)
    assert client.get(reverse("api:key_detail", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("api:audit_event_list")).status_code == 403
    suspend = client.post(reverse("api:key_suspend", args=[theirs.pk]), {}, content_type="application/json")
    assert suspend.status_code == 404


def test_a_read_only_token_reads_but_cannot_write(engineer, team, simulated):
    client = script(engineer, read_only=True)
    assert client.get(reverse("api:key_request_list")).status_code == 200
    body = {"account": simulated.name, "team": team.slug, "name": "cli", "purpose": "ci", "allowance_usd": "5"}
    refused = client.post(reverse("api:key_request_list"), body, content_type="application/json")
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]["message"]


def test_token_requests_are_throttled_with_retry_after(engineer, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"anon": "2/min", "token": "3/min"}}
    client = script(engineer)
    statuses = [client.get(reverse("api:key_list")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get(reverse("api:key_list"))
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert limited.json()["error"]["code"] == "throttled"
    # The owner's browser session is not the script: it is not throttled with it.
    assert login(engineer).get(reverse("api:key_list")).status_code == 200


def test_anonymous_requests_are_throttled(client, db, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"anon": "2/min", "token": "3/min"}}
    statuses = [client.get(reverse("api:key_list")).status_code for _ in range(3)]
    assert statuses == [403, 403, 429]


def test_guessing_tokens_is_throttled_like_anonymous_calls(db, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"anon": "2/min", "token": "3/min"}}
    guesser = script(token="alloc_" + "x" * 43)
    statuses = [guesser.get(reverse("api:key_list")).status_code for _ in range(3)]
    assert statuses == [403, 403, 429]


def test_a_deactivated_owners_token_stops_working(engineer):
    raw = token_for(engineer)
    engineer.is_active = False
    engineer.save(update_fields=["is_active"])
    assert script(token=raw).get(reverse("api:key_list")).status_code == 403


def test_old_unversioned_api_paths_are_gone_and_say_where_the_api_is(engineer):
    for path in ["/api/keys/", "/api/key-requests/", "/api/schema/", "/api/docs/"]:
        response = script(engineer).get(path)
        assert response.status_code == 404 and "/api/v1/" in response.json()["error"]["message"]
