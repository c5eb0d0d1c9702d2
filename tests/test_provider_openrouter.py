"""OpenRouterProvider over real HTTP against the OpenRouter key management emulator."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import time_machine

from allocator.providers import get_provider
from allocator.providers.base import ProviderError
from allocator.providers.openrouter import OpenRouterProvider
from tests.emulators.openrouter import OpenRouterEmulator

NOW = datetime(2025, 8, 15, 12, 30, tzinfo=UTC)
TODAY = datetime(2025, 8, 15, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    # Both the adapter and the emulator decide what "today" is; pin it so day arithmetic is exact.
    with time_machine.travel(NOW, tick=True):
        yield


def make_provider(emulator: OpenRouterEmulator, **options) -> OpenRouterProvider:
    provider = get_provider("openrouter", base_url=emulator.url, credential=emulator.credential, options=options)
    assert isinstance(provider, OpenRouterProvider)
    return provider


@pytest.fixture
def provider(openrouter_emulator: OpenRouterEmulator) -> OpenRouterProvider:
    return make_provider(openrouter_emulator, max_sleep=0.02)


# --- connection and auth -----------------------------------------------------------------------------


def test_check_connection_reports_credits(
    provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    openrouter_emulator.set_credits(100, 42.5)
    assert provider.check_connection() == "Connected: $100.00 credits, $42.50 used"
    (request,) = openrouter_emulator.requests
    assert request.path == "/api/v1/credits"
    assert request.headers["authorization"] == f"Bearer {openrouter_emulator.credential}"


def test_rejected_credential_is_auth_error(openrouter_emulator: OpenRouterEmulator) -> None:
    credential = "sk-or-v1-inference-key-not-management"
    provider = OpenRouterProvider(base_url=openrouter_emulator.url, credential=credential)
    with pytest.raises(ProviderError, match="Invalid management key") as caught:
        provider.list_keys()
    assert caught.value.auth is True
    assert credential not in str(caught.value)


# --- keys --------------------------------------------------------------------------------------------


def test_mint_sends_limit_and_expiry(provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)

    minted = provider.mint_key(name="alloc-alice", limit_usd=Decimal("50.00"), expires_at=expires)

    (request,) = openrouter_emulator.requests_to("POST", "/keys")
    assert request.json == {
        "name": "alloc-alice",
        "limit": 50.0,
        "expires_at": expires.isoformat().replace("+00:00", "Z"),
    }
    assert minted.secret.startswith("sk-or-v1-")
    assert minted.provider_key_id == hashlib.sha256(minted.secret.encode()).hexdigest()
    stored = openrouter_emulator.key(minted.provider_key_id)
    assert minted.hint == stored["label"]
    assert minted.secret not in minted.hint
    assert (minted.name, minted.provider_data) == ("alloc-alice", {})
    assert (stored["limit"], stored["expires_at"]) == (50.0, request.json["expires_at"])


def test_mint_without_limit_sends_null_and_no_expiry(
    provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    provider.mint_key(name="alloc-bob")
    (request,) = openrouter_emulator.requests_to("POST", "/keys")
    assert request.json == {"name": "alloc-bob", "limit": None}


def test_suspend_and_reinstate_patch_disabled(
    provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    key_hash = openrouter_emulator.add_key("alloc-carol")["hash"]

    provider.suspend_key(provider_key_id=key_hash, provider_data={})
    assert openrouter_emulator.key(key_hash)["disabled"] is True
    assert provider.reinstate_key(provider_key_id=key_hash, provider_data={}) is None
    assert openrouter_emulator.key(key_hash)["disabled"] is False

    patches = openrouter_emulator.requests_to("PATCH", f"/keys/{key_hash}")
    assert [r.json for r in patches] == [{"disabled": True}, {"disabled": False}]


def test_set_key_limit(provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator) -> None:
    key_hash = openrouter_emulator.add_key("alloc-dave", limit=10, usage=4)["hash"]

    provider.set_key_limit(provider_key_id=key_hash, limit_usd=Decimal("12.50"))
    assert openrouter_emulator.key(key_hash)["limit_remaining"] == 8.5
    provider.set_key_limit(provider_key_id=key_hash, limit_usd=None)

    patches = openrouter_emulator.requests_to("PATCH", f"/keys/{key_hash}")
    assert [r.json for r in patches] == [{"limit": 12.5}, {"limit": None}]
    assert openrouter_emulator.key(key_hash)["limit"] is None


def test_revoke_deletes_and_404_means_already_gone(
    provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    key_hash = openrouter_emulator.add_key("alloc-erin")["hash"]
    provider.revoke_key(provider_key_id=key_hash, provider_data={})
    provider.revoke_key(provider_key_id=key_hash, provider_data={})
    assert len(openrouter_emulator.requests_to("DELETE", f"/keys/{key_hash}")) == 2
    assert key_hash not in openrouter_emulator.keys


def test_list_keys_pages_by_offset_and_includes_disabled(
    provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    created = datetime(2025, 8, 1, 10, 30, tzinfo=UTC)
    for i in range(248):
        openrouter_emulator.add_key(f"key-{i}", created_at=created, limit=5, usage="1.25")
    disabled = openrouter_emulator.add_key("off", disabled=True)
    expired = openrouter_emulator.add_key("old", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    openrouter_emulator.keys[expired["hash"]]["expires_at"] = "2025-01-01T00:00:00Z"

    keys = provider.list_keys()

    assert len(keys) == 250
    assert len({k.provider_key_id for k in keys}) == 250
    lists = openrouter_emulator.requests_to("GET", "/keys")
    assert [r.query_value("offset") for r in lists] == ["0", "100", "200"]
    assert all(r.query_value("include_disabled") == "true" for r in lists)
    by_name = {k.name: k for k in keys}
    assert by_name["off"].status == "suspended"
    assert by_name["off"].provider_key_id == disabled["hash"]
    assert by_name["old"].status == "expired"
    key0 = by_name["key-0"]
    assert key0.status == "active"
    assert key0.created_at == created
    assert key0.hint.startswith("sk-or-v1-")
    assert key0.provider_data == {"limit": 5.0, "usage": 1.25}


def test_emulator_hides_disabled_keys_unless_asked(openrouter_emulator: OpenRouterEmulator) -> None:
    openrouter_emulator.add_key("on")
    openrouter_emulator.add_key("off", disabled=True)
    headers = {"Authorization": f"Bearer {openrouter_emulator.credential}"}
    url = openrouter_emulator.url + "/keys"
    assert [k["name"] for k in httpx.get(url, headers=headers).json()["data"]] == ["on"]
    everything = httpx.get(url, params={"include_disabled": "true"}, headers=headers).json()["data"]
    assert [k["name"] for k in everything] == ["off", "on"]  # newest first


# --- usage -------------------------------------------------------------------------------------------


def test_pull_usage_reads_activity_per_key_and_day(
    frozen_clock: None, provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    alice = openrouter_emulator.add_key("alloc-alice", usage_daily="0.75")["hash"]
    bob = openrouter_emulator.add_key("alloc-bob", disabled=True)["hash"]
    yesterday, day_before = TODAY - DAY, TODAY - 2 * DAY
    # Two provider endpoints for one model on one day: Allocator keeps one row per key × day × model.
    openrouter_emulator.add_activity(
        yesterday,
        api_key_hash=alice,
        model="openai/gpt-4o-mini",
        usage="0.10",
        requests=3,
        prompt_tokens=100,
        completion_tokens=10,
        endpoint_id="ep_openai",
    )
    openrouter_emulator.add_activity(
        yesterday,
        api_key_hash=alice,
        model="openai/gpt-4o-mini",
        usage="0.05",
        requests=2,
        prompt_tokens=50,
        completion_tokens=5,
        endpoint_id="ep_azure",
        provider_name="Azure",
    )
    openrouter_emulator.add_activity(
        day_before, api_key_hash=alice, model="anthropic/claude-sonnet-4", usage="1.5", requests=1
    )
    openrouter_emulator.add_activity(day_before, api_key_hash=bob, model="openai/gpt-4o", usage="0.2", requests=4)

    pages = list(provider.pull_usage(start=day_before, end=NOW))

    assert len(pages) == 2  # one per key with usage
    rows = {(r.provider_key_id, r.bucket_start, r.model): r for page in pages for r in page}
    assert set(rows) == {
        (alice, yesterday, "openai/gpt-4o-mini"),
        (alice, day_before, "anthropic/claude-sonnet-4"),
        (alice, TODAY, "openrouter/today"),
        (bob, day_before, "openai/gpt-4o"),
    }
    mini = rows[(alice, yesterday, "openai/gpt-4o-mini")]
    assert (mini.input_tokens, mini.output_tokens, mini.requests) == (150, 15, 5)
    assert mini.cost_usd == Decimal("0.15")
    assert mini.bucket_width == "1d"
    today = rows[(alice, TODAY, "openrouter/today")]
    assert (today.cost_usd, today.requests, today.input_tokens, today.output_tokens) == (Decimal("0.75"), None, 0, 0)
    assert rows[(bob, day_before, "openai/gpt-4o")].cost_usd == Decimal("0.2")

    activity = openrouter_emulator.requests_to("GET", "/activity")
    assert sorted((r.query_value("api_key_hash"), r.query_value("date")) for r in activity) == sorted(
        (key, day) for key in (alice, bob) for day in ("2025-08-13", "2025-08-14")
    )


def test_pull_usage_skips_days_older_than_thirty(
    frozen_clock: None, provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    openrouter_emulator.add_key("alloc-alice", usage_daily="0.5")

    pages = list(provider.pull_usage(start=TODAY - 40 * DAY, end=TODAY - 20 * DAY))

    assert pages == []
    dates = sorted(r.query_value("date") for r in openrouter_emulator.requests_to("GET", "/activity"))
    assert dates[0] == "2025-07-16"  # today - 30 days
    assert dates[-1] == "2025-07-25"
    assert len(dates) == 10


def test_pull_usage_today_only(
    frozen_clock: None, provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    busy = openrouter_emulator.add_key("busy", usage_daily=2)["hash"]
    openrouter_emulator.add_key("idle", usage_daily=0)

    pages = list(provider.pull_usage(start=TODAY, end=TODAY + DAY))

    assert [[(r.provider_key_id, r.model, r.cost_usd) for r in page] for page in pages] == [
        [(busy, "openrouter/today", Decimal("2"))]
    ]
    assert openrouter_emulator.requests_to("GET", "/activity") == []


def test_malformed_activity_is_an_error(
    frozen_clock: None, provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    openrouter_emulator.add_key("alloc-alice")
    openrouter_emulator.fail_next(malformed=True, path_prefix="/activity")
    with pytest.raises(ProviderError, match="malformed"):
        list(provider.pull_usage(start=TODAY - DAY, end=TODAY))


# --- errors ------------------------------------------------------------------------------------------


def test_insufficient_credits_is_permanent(
    provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator
) -> None:
    openrouter_emulator.fail_next(status=402)
    with pytest.raises(ProviderError, match="Insufficient credits") as caught:
        provider.mint_key(name="alloc-frank")
    assert caught.value.permanent is True
    assert len(openrouter_emulator.requests) == 1


def test_rate_limit_then_success(provider: OpenRouterProvider, openrouter_emulator: OpenRouterEmulator) -> None:
    openrouter_emulator.fail_next(2, status=429)
    assert provider.list_keys() == []
    assert len(openrouter_emulator.requests) == 3


def test_slow_answer_times_out(openrouter_emulator: OpenRouterEmulator) -> None:
    provider = make_provider(openrouter_emulator, timeout=0.3, retries=0)
    openrouter_emulator.fail_next(delay=2)
    with pytest.raises(ProviderError, match="timed out"):
        provider.check_connection()
