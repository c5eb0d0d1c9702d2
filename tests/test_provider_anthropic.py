"""AnthropicProvider over real HTTP against the Anthropic Admin API emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from allocator.providers import get_provider
from allocator.providers.anthropic import AnthropicProvider
from allocator.providers.base import ProviderError
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.base import json_reply

T0 = datetime(2025, 8, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def make_provider(emulator: AnthropicEmulator, **options) -> AnthropicProvider:
    provider = get_provider("anthropic", base_url=emulator.url, credential=emulator.credential, options=options)
    assert isinstance(provider, AnthropicProvider)
    return provider


@pytest.fixture
def provider(anthropic_emulator: AnthropicEmulator) -> AnthropicProvider:
    return make_provider(anthropic_emulator, max_sleep=0.02)


# --- connection and auth -----------------------------------------------------------------------------


def test_check_connection_sends_key_and_version(
    provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator
) -> None:
    assert provider.check_connection() == "Connected to Emulated Org"
    (request,) = anthropic_emulator.requests
    assert request.path == "/v1/organizations/me"
    assert request.headers["x-api-key"] == anthropic_emulator.credential
    assert request.headers["anthropic-version"] == "2023-06-01"


def test_rejected_credential_is_auth_error(anthropic_emulator: AnthropicEmulator) -> None:
    credential = "sk-ant-api03-not-an-admin-key"
    provider = AnthropicProvider(base_url=anthropic_emulator.url, credential=credential)
    with pytest.raises(ProviderError, match="invalid x-api-key") as caught:
        provider.check_connection()
    assert caught.value.auth is True
    assert credential not in str(caught.value)


def test_cannot_mint(provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator) -> None:
    assert provider.capabilities.mint is False
    assert provider.capabilities.request_counts is False
    with pytest.raises(ProviderError) as caught:
        provider.mint_key(name="alloc-alice")
    assert caught.value.permanent is True
    assert anthropic_emulator.requests == []


# --- keys --------------------------------------------------------------------------------------------


def test_suspend_reinstate_and_revoke_set_the_status(
    provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator
) -> None:
    key = anthropic_emulator.add_key("alice-laptop", key_id="apikey_01Xy")

    provider.suspend_key(provider_key_id="apikey_01Xy", provider_data={})
    assert key["status"] == "inactive"
    assert provider.reinstate_key(provider_key_id="apikey_01Xy", provider_data={}) is None
    assert key["status"] == "active"
    provider.revoke_key(provider_key_id="apikey_01Xy", provider_data={})
    assert key["status"] == "archived"

    posts = anthropic_emulator.requests_to("POST", "/v1/organizations/api_keys/apikey_01Xy")
    assert [r.json for r in posts] == [{"status": "inactive"}, {"status": "active"}, {"status": "archived"}]


def test_reinstating_an_archived_key_fails_permanently(
    provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator
) -> None:
    anthropic_emulator.add_key("old", key_id="apikey_old", status="archived")
    with pytest.raises(ProviderError, match="Archived API keys cannot be changed") as caught:
        provider.reinstate_key(provider_key_id="apikey_old", provider_data={})
    assert caught.value.permanent is True


def test_list_keys_follows_pages_and_maps_status(
    provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator
) -> None:
    created = datetime(2025, 1, 2, 9, tzinfo=UTC)
    for i in range(246):
        anthropic_emulator.add_key(f"key-{i}", workspace_id="wrkspc_01AbC", created_at=created)
    for status in ("active", "inactive", "archived", "expired"):
        anthropic_emulator.add_key(status, status=status, partial_key_hint=f"sk-ant-api03-abc...{status[:4]}")

    keys = provider.list_keys()

    assert len(keys) == 250
    assert len({k.provider_key_id for k in keys}) == 250
    lists = anthropic_emulator.requests_to("GET", "/v1/organizations/api_keys")
    assert [r.query_value("after_id") for r in lists] == [None, keys[99].provider_key_id, keys[199].provider_key_id]
    assert all(r.query_value("limit") == "100" for r in lists)
    by_name = {k.name: k for k in keys}
    assert {s: by_name[s].status for s in ("active", "inactive", "archived", "expired")} == {
        "active": "active",
        "inactive": "suspended",
        "archived": "revoked",
        "expired": "expired",
    }
    assert by_name["inactive"].hint == "sk-ant-api03-abc...inac"
    assert by_name["key-0"].created_at == created
    assert by_name["key-0"].provider_data == {"workspace_id": "wrkspc_01AbC"}
    assert by_name["active"].provider_data == {"workspace_id": None}


# --- usage -------------------------------------------------------------------------------------------


def test_pull_usage_follows_three_pages_and_sends_group_by(
    provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator
) -> None:
    end = T0 + 400 * HOUR
    hours = [0, 167, 168, 335, 336, 399]
    for h in hours:
        anthropic_emulator.add_usage(
            T0 + h * HOUR, api_key_id="apikey_01Xy", model="claude-sonnet-4-20250514", uncached_input_tokens=h
        )
    anthropic_emulator.add_usage(end, api_key_id="apikey_01Xy", model="claude-sonnet-4-20250514")

    pages = list(provider.pull_usage(start=T0, end=end))

    assert len(pages) == 3
    rows = [row for page in pages for row in page]
    assert [r.bucket_start for r in rows] == [T0 + h * HOUR for h in hours]
    requests = anthropic_emulator.requests_to("GET", "/v1/organizations/usage_report/messages")
    assert len(requests) == 3
    first = requests[0]
    assert [v for k, v in first.query if k == "group_by[]"] == ["api_key_id", "model", "workspace_id"]
    assert first.query_value("starting_at") == "2025-08-01T00:00:00Z"
    assert first.query_value("ending_at") == "2025-08-17T16:00:00Z"
    assert (first.query_value("bucket_width"), first.query_value("limit")) == ("1h", "168")
    assert first.query_value("page") is None
    assert all(r.query_value("page") for r in requests[1:])


def test_usage_total_input_includes_cache_and_has_no_request_count(
    provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator
) -> None:
    anthropic_emulator.add_usage(
        T0,
        api_key_id="apikey_01Xy",
        model="claude-sonnet-4-20250514",
        workspace_id="wrkspc_01AbC",
        uncached_input_tokens=1500,
        cache_read_input_tokens=200,
        cache_creation_5m_input_tokens=500,
        cache_creation_1h_input_tokens=100,
        output_tokens=700,
    )
    anthropic_emulator.add_usage(T0, api_key_id=None, model="claude-haiku", uncached_input_tokens=3)

    (page,) = provider.pull_usage(start=T0, end=T0 + HOUR)

    by_model = {r.model: r for r in page}
    sonnet = by_model["claude-sonnet-4-20250514"]
    assert sonnet.input_tokens == 1500 + 200 + 500 + 100
    assert sonnet.cached_input_tokens == 200
    assert (sonnet.cache_write_tokens, sonnet.cache_write_1h_tokens) == (600, 100)
    assert sonnet.output_tokens == 700
    assert sonnet.requests is None
    assert sonnet.provider_key_id == "apikey_01Xy"
    assert sonnet.dimensions == {"workspace_id": "wrkspc_01AbC"}
    assert (sonnet.bucket_start, sonnet.bucket_width) == (T0, "1h")
    console = by_model["claude-haiku"]
    assert console.provider_key_id is None
    assert console.dimensions == {"workspace_id": "default"}
    assert console.requests is None


def test_wrongly_shaped_usage_page_is_an_error(
    provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator
) -> None:
    anthropic_emulator.override(
        "GET",
        r"/v1/organizations/usage_report/messages",
        lambda request: json_reply({"data": [{"starting_at": "2025-08-01T00:00:00Z", "results": [{}]}]}),
    )
    with pytest.raises(ProviderError, match="malformed"):
        list(provider.pull_usage(start=T0, end=T0 + HOUR))


def test_malformed_json_is_an_error(provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator) -> None:
    anthropic_emulator.fail_next(malformed=True)
    with pytest.raises(ProviderError, match="malformed"):
        provider.list_keys()


# --- cost --------------------------------------------------------------------------------------------


def test_pull_cost_reads_cents_strings(provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator) -> None:
    anthropic_emulator.add_cost(T0, "1234.5", workspace_id="wrkspc_01AbC")
    anthropic_emulator.add_cost(T0, "0.25", workspace_id=None)
    anthropic_emulator.add_cost(T0 + DAY, "100", workspace_id="wrkspc_01AbC")

    rows = [row for page in provider.pull_cost(start=T0, end=T0 + 2 * DAY) for row in page]

    assert sorted((r.day_start, r.amount_usd, r.dimensions["workspace_id"]) for r in rows) == [
        (T0, Decimal("0.0025"), "default"),
        (T0, Decimal("12.345"), "wrkspc_01AbC"),
        (T0 + DAY, Decimal("1"), "wrkspc_01AbC"),
    ]
    (request,) = anthropic_emulator.requests_to("GET", "/v1/organizations/cost_report")
    assert [v for k, v in request.query if k == "group_by[]"] == ["workspace_id"]
    assert request.query_value("bucket_width") == "1d"


def test_pull_cost_follows_pages(provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator) -> None:
    for d in (0, 30, 31, 61, 62, 70):
        anthropic_emulator.add_cost(T0 + d * DAY, "10")
    rows = [row for page in provider.pull_cost(start=T0, end=T0 + 80 * DAY) for row in page]
    assert [r.day_start for r in rows] == [T0 + d * DAY for d in (0, 30, 31, 61, 62, 70)]
    assert len(anthropic_emulator.requests_to("GET", "/v1/organizations/cost_report")) == 3


# --- errors ------------------------------------------------------------------------------------------


def test_overloaded_529_is_retried(provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator) -> None:
    anthropic_emulator.fail_next(2, status=529)
    assert provider.check_connection() == "Connected to Emulated Org"
    assert len(anthropic_emulator.requests) == 3


def test_overloaded_forever_is_a_retryable_error(
    provider: AnthropicProvider, anthropic_emulator: AnthropicEmulator
) -> None:
    anthropic_emulator.fail_next(5, status=529, message="Overloaded")
    with pytest.raises(ProviderError, match="Overloaded") as caught:
        provider.suspend_key(provider_key_id="apikey_x", provider_data={})
    assert caught.value.permanent is False
    assert caught.value.status == 529


def test_slow_answer_times_out(anthropic_emulator: AnthropicEmulator) -> None:
    provider = make_provider(anthropic_emulator, timeout=0.3, retries=0)
    anthropic_emulator.fail_next(delay=2)
    with pytest.raises(ProviderError, match="timed out"):
        provider.list_keys()


# --- emulator behaviour other tests rely on ------------------------------------------------------------


def test_emulator_groups_only_by_requested_dimensions(anthropic_emulator: AnthropicEmulator) -> None:
    anthropic_emulator.add_usage(T0, api_key_id="k1", model="m1", workspace_id="w1", output_tokens=1)
    anthropic_emulator.add_usage(T0, api_key_id="k2", model="m1", workspace_id="w2", output_tokens=2)
    headers = {"x-api-key": anthropic_emulator.credential, "anthropic-version": "2023-06-01"}
    window = [("starting_at", "2025-08-01T00:00:00Z"), ("ending_at", "2025-08-02T00:00:00Z")]
    for style in ("group_by", "group_by[]"):
        body = httpx.get(
            anthropic_emulator.url + "/v1/organizations/usage_report/messages",
            params=[*window, (style, "model")],
            headers=headers,
        ).json()
        (bucket,) = body["data"]
        (result,) = bucket["results"]
        assert (result["model"], result["api_key_id"], result["workspace_id"]) == ("m1", None, None)
        assert result["output_tokens"] == 3
        assert bucket["starting_at"] == "2025-08-01T00:00:00Z"
