"""HttpClient against a loopback server: retries, Retry-After, timeouts, malformed bodies, error flags."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from allocator.providers.base import ProviderError
from allocator.providers.http import HttpClient
from tests.emulators.base import Emulator, EmulatorError, RecordedRequest, Reply, json_reply
from tests.emulators.slack import SlackEmulator


class ThingEmulator(Emulator):
    """A minimal JSON API: GET /thing answers {"ok": true}; needs `Authorization: Bearer secret-token`."""

    credential = "secret-token"

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/thing", lambda request: json_reply({"ok": True}))
        self.route("POST", r"/thing", lambda request: json_reply({"got": request.json}, 201))
        self.route("GET", r"/empty", lambda request: Reply(204))

    def check_auth(self, request: RecordedRequest) -> None:
        if request.headers.get("authorization") != f"Bearer {self.credential}":
            raise EmulatorError(401, "bad credential")


@pytest.fixture
def emulator() -> Iterator[ThingEmulator]:
    with ThingEmulator() as emulator:
        yield emulator


def client(emulator: Emulator, **kwargs) -> HttpClient:
    options = {"timeout": 5.0, "retries": 2, "max_sleep": 0.02, "provider": "Thing"} | kwargs
    return HttpClient(base_url=emulator.url, headers={"Authorization": "Bearer secret-token"}, **options)


def test_request_returns_json_and_sends_headers(emulator: ThingEmulator) -> None:
    assert client(emulator).request("GET", "/thing", params=[("a", "1"), ("a", "2")]) == {"ok": True}
    (request,) = emulator.requests
    assert request.headers["authorization"] == "Bearer secret-token"
    assert request.query == [("a", "1"), ("a", "2")]


def test_request_sends_json_body_and_accepts_201(emulator: ThingEmulator) -> None:
    assert client(emulator).request("POST", "/thing", json={"x": 1}) == {"got": {"x": 1}}
    assert emulator.requests[0].json == {"x": 1}


def test_empty_body_decodes_to_none(emulator: ThingEmulator) -> None:
    assert client(emulator).request("GET", "/empty") is None


def test_429_with_retry_after_waits_then_succeeds(emulator: ThingEmulator) -> None:
    emulator.fail_next(status=429, retry_after=1)
    started = time.monotonic()

    # max_sleep caps backoff, not a provider's explicit Retry-After below it.
    assert client(emulator, max_sleep=30.0).request("GET", "/thing") == {"ok": True}

    assert time.monotonic() - started >= 0.95
    assert len(emulator.requests) == 2


def test_500_twice_then_success(emulator: ThingEmulator) -> None:
    emulator.fail_next(2, status=500)
    assert client(emulator).request("GET", "/thing") == {"ok": True}
    assert len(emulator.requests) == 3


def test_500_forever_raises_retryable_error_after_retries(emulator: ThingEmulator) -> None:
    emulator.fail_next(10, status=500)
    with pytest.raises(ProviderError) as caught:
        client(emulator, retries=2).request("GET", "/thing")
    assert caught.value.permanent is False
    assert caught.value.status == 500
    assert len(emulator.requests) == 3


def test_client_error_is_permanent_and_not_retried(emulator: ThingEmulator) -> None:
    with pytest.raises(ProviderError) as caught:
        client(emulator).request("GET", "/nowhere")
    assert caught.value.permanent is True
    assert caught.value.status == 404
    assert len(emulator.requests) == 1


def test_rejected_credential_is_auth_error(emulator: ThingEmulator) -> None:
    bad = HttpClient(base_url=emulator.url, headers={"Authorization": "Bearer wrong"}, provider="Thing")
    with pytest.raises(ProviderError) as caught:
        bad.request("GET", "/thing")
    assert caught.value.auth is True
    assert caught.value.permanent is True
    assert "401" in str(caught.value)
    assert len(emulator.requests) == 1


def test_insufficient_quota_429_is_not_retried(emulator: ThingEmulator) -> None:
    emulator.fail_next(5, status=429, code="insufficient_quota", message="You exceeded your current quota")
    with pytest.raises(ProviderError) as caught:
        client(emulator).request("GET", "/thing")
    assert caught.value.status == 429
    assert caught.value.permanent is True
    assert len(emulator.requests) == 1


def test_malformed_body_raises_malformed_error(emulator: ThingEmulator) -> None:
    emulator.fail_next(malformed=True)
    with pytest.raises(ProviderError, match="malformed"):
        client(emulator).request("GET", "/thing")
    assert len(emulator.requests) == 1


def test_slow_response_times_out(emulator: ThingEmulator) -> None:
    emulator.fail_next(delay=3)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="timed out") as caught:
        client(emulator, timeout=0.3, retries=0).request("GET", "/thing")
    assert time.monotonic() - started < 2
    assert caught.value.permanent is False


def test_timeout_is_retried(emulator: ThingEmulator) -> None:
    emulator.fail_next(delay=2)
    assert client(emulator, timeout=0.3, retries=1).request("GET", "/thing") == {"ok": True}
    assert len(emulator.requests) == 2


def test_unreachable_server_is_retryable_error() -> None:
    emulator = ThingEmulator().start()
    url = emulator.url
    emulator.stop()
    http = HttpClient(base_url=url, headers={}, retries=1, max_sleep=0.01, provider="Thing")
    with pytest.raises(ProviderError, match="unreachable") as caught:
        http.request("GET", "/thing")
    assert caught.value.permanent is False


def test_fault_can_be_limited_to_a_path(emulator: ThingEmulator) -> None:
    emulator.fail_next(status=503, path_prefix="/empty")
    assert client(emulator, retries=0).request("GET", "/thing") == {"ok": True}
    with pytest.raises(ProviderError):
        client(emulator, retries=0).request("GET", "/empty")


# --- Slack webhook emulator plumbing -----------------------------------------------------------------


def test_slack_emulator_records_payloads_and_answers_ok(slack_emulator: SlackEmulator) -> None:
    response = httpx.post(slack_emulator.webhook_url, json={"text": "Budget request from alice"})
    assert (response.status_code, response.text) == (200, "ok")
    assert slack_emulator.payloads == [{"text": "Budget request from alice"}]
    assert slack_emulator.requests[0].headers["content-type"] == "application/json"


def test_slack_emulator_rate_limits_in_plain_text(slack_emulator: SlackEmulator) -> None:
    slack_emulator.fail_next(status=429, retry_after=1)
    response = httpx.post(slack_emulator.webhook_url, json={"text": "hi"})
    assert (response.status_code, response.text, response.headers["retry-after"]) == (429, "rate_limited", "1")
    assert httpx.post(slack_emulator.webhook_url, content=b"not json").text == "invalid_payload"
    assert slack_emulator.payloads == []
