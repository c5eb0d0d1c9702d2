"""OpenAIProvider over real HTTP against the OpenAI Administration API emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from allocator.providers import get_provider
from allocator.providers.base import ProviderError
from allocator.providers.openai import OpenAIProvider
from tests.emulators.base import json_reply
from tests.emulators.openai import OpenAIEmulator

T0 = datetime(2025, 8, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def project_id(openai_emulator: OpenAIEmulator) -> str:
    return openai_emulator.add_project("team-search", project_id="proj_8Kx2")


def make_provider(emulator: OpenAIEmulator, **options) -> OpenAIProvider:
    provider = get_provider("openai", base_url=emulator.url, credential=emulator.credential, options=options)
    assert isinstance(provider, OpenAIProvider)
    return provider


@pytest.fixture
def provider(openai_emulator: OpenAIEmulator, project_id: str) -> OpenAIProvider:
    return make_provider(openai_emulator, project_id=project_id, max_sleep=0.02)


# --- connection and auth -----------------------------------------------------------------------------


def test_check_connection_sends_admin_key(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    assert provider.check_connection() == "Connected to OpenAI organization; project team-search is reachable"
    first = openai_emulator.requests[0]
    assert first.headers["authorization"] == f"Bearer {openai_emulator.credential}"
    assert (first.method, first.path, first.query) == ("GET", "/v1/organization/projects", [("limit", "1")])


def test_check_connection_without_project(openai_emulator: OpenAIEmulator) -> None:
    assert make_provider(openai_emulator).check_connection() == "Connected to OpenAI organization"


def test_rejected_credential_is_auth_error_without_the_secret(openai_emulator: OpenAIEmulator) -> None:
    credential = "sk-proj-this-is-not-an-admin-key-9999"
    provider = OpenAIProvider(base_url=openai_emulator.url, credential=credential)
    with pytest.raises(ProviderError) as caught:
        provider.check_connection()
    assert caught.value.auth is True
    assert "Incorrect API key provided" in str(caught.value)
    assert credential not in str(caught.value)
    assert len(openai_emulator.requests) == 1


# --- keys --------------------------------------------------------------------------------------------


def test_mint_creates_a_service_account(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    minted = provider.mint_key(name="alloc-alice", limit_usd=Decimal("50"))

    (request,) = openai_emulator.requests_to("POST", "/organization/projects/proj_8Kx2/service_accounts")
    assert request.json == {"name": "alloc-alice"}
    assert minted.secret == openai_emulator.secrets[minted.provider_key_id]
    assert minted.secret.startswith("sk-svcacct-")
    assert minted.hint == "sk-svcacct-…" + minted.secret[-4:]
    assert minted.name == "alloc-alice"
    (account_id,) = openai_emulator.service_accounts["proj_8Kx2"]
    assert minted.provider_data == {
        "project_id": "proj_8Kx2",
        "service_account_id": account_id,
        "name": "alloc-alice",
    }


def test_mint_needs_a_project_id(openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(ProviderError, match="project_id") as caught:
        make_provider(openai_emulator).mint_key(name="alloc-alice")
    assert caught.value.permanent is True
    assert openai_emulator.requests == []


def test_mint_without_secret_in_answer_is_an_error(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.override(
        "POST",
        r"/v1/organization/projects/[^/]+/service_accounts",
        lambda request: json_reply(
            {"object": "organization.project.service_account", "id": "svc_acct_x", "name": "x", "api_key": None}
        ),
    )
    with pytest.raises(ProviderError, match="no API key secret"):
        provider.mint_key(name="alloc-alice")


def test_suspend_deletes_the_service_account_and_reinstate_mints_a_new_key(
    provider: OpenAIProvider, openai_emulator: OpenAIEmulator
) -> None:
    minted = provider.mint_key(name="alloc-alice")
    account_id = minted.provider_data["service_account_id"]

    provider.suspend_key(provider_key_id=minted.provider_key_id, provider_data=minted.provider_data)

    assert openai_emulator.requests_to("DELETE", f"/organization/projects/proj_8Kx2/service_accounts/{account_id}")
    assert openai_emulator.service_accounts["proj_8Kx2"] == {}
    assert openai_emulator.keys_of("proj_8Kx2") == []

    replacement = provider.reinstate_key(provider_key_id=minted.provider_key_id, provider_data=minted.provider_data)

    assert replacement is not None
    assert replacement.provider_key_id != minted.provider_key_id
    assert replacement.secret != minted.secret
    assert replacement.name == "alloc-alice"
    posts = openai_emulator.requests_to("POST", "/organization/projects/proj_8Kx2/service_accounts")
    assert [r.json for r in posts] == [{"name": "alloc-alice"}, {"name": "alloc-alice"}]


def test_revoke_twice_treats_404_as_already_gone(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    minted = provider.mint_key(name="alloc-bob")
    provider.revoke_key(provider_key_id=minted.provider_key_id, provider_data=minted.provider_data)
    provider.revoke_key(provider_key_id=minted.provider_key_id, provider_data=minted.provider_data)
    deletes = openai_emulator.requests_to("DELETE")
    assert len(deletes) == 2
    assert openai_emulator.service_accounts["proj_8Kx2"] == {}


def test_revoke_other_errors_are_raised(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.fail_next(status=403, message="Not allowed")
    with pytest.raises(ProviderError, match="Not allowed"):
        provider.revoke_key(
            provider_key_id="key_1", provider_data={"project_id": "proj_8Kx2", "service_account_id": "svc_1"}
        )


def test_list_keys_follows_pages(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    created = datetime(2025, 1, 2, 9, tzinfo=UTC)
    for i in range(228):
        openai_emulator.add_key("proj_8Kx2", f"user-key-{i}", created_at=created)
    openai_emulator.add_key("proj_8Kx2", "lost-access", owner_project_access="inactive")
    minted = provider.mint_key(name="alloc-carol")

    keys = provider.list_keys()

    assert len(keys) == 230
    assert len({k.provider_key_id for k in keys}) == 230
    lists = openai_emulator.requests_to("GET", "/organization/projects/proj_8Kx2/api_keys")
    assert len(lists) == 3
    assert [r.query_value("after") for r in lists] == [None, keys[99].provider_key_id, keys[199].provider_key_id]
    assert all(r.query_value("limit") == "100" for r in lists)
    by_name = {k.name: k for k in keys}
    assert by_name["user-key-0"].status == "active"
    assert by_name["user-key-0"].created_at == created
    assert by_name["user-key-0"].provider_data == {"project_id": "proj_8Kx2"}
    assert by_name["lost-access"].status == "suspended"
    carol = by_name["alloc-carol"]
    assert carol.provider_key_id == minted.provider_key_id
    assert carol.provider_data["service_account_id"] == minted.provider_data["service_account_id"]
    assert carol.hint.endswith(minted.secret[-4:])
    assert minted.secret not in carol.hint


def test_list_keys_without_project_lists_every_project(openai_emulator: OpenAIEmulator) -> None:
    for p in range(3):
        project = openai_emulator.add_project(f"team-{p}")
        openai_emulator.add_key(project, f"key-{p}")
    openai_emulator.add_project("old", status="archived")

    keys = make_provider(openai_emulator).list_keys()

    assert sorted(k.name for k in keys) == ["key-0", "key-1", "key-2"]
    assert len({k.provider_data["project_id"] for k in keys}) == 3


# --- usage -------------------------------------------------------------------------------------------


def test_pull_usage_follows_three_pages_and_sends_group_by(
    provider: OpenAIProvider, openai_emulator: OpenAIEmulator
) -> None:
    end = T0 + 400 * HOUR  # 400 hourly buckets = pages of 168, 168 and 64
    hours = [0, 5, 170, 300, 399]
    for h in hours:
        openai_emulator.add_usage(
            T0 + h * HOUR, api_key_id="key_Z9", model="gpt-4o-mini", project_id="proj_8Kx2", input_tokens=h + 1
        )
    openai_emulator.add_usage(T0 + 170 * HOUR, api_key_id="key_Y8", model="gpt-4o", project_id="proj_8Kx2")
    openai_emulator.add_usage(T0 - HOUR, api_key_id="key_Z9", model="gpt-4o-mini", input_tokens=999)
    openai_emulator.add_usage(end, api_key_id="key_Z9", model="gpt-4o-mini", input_tokens=999)

    pages = list(provider.pull_usage(start=T0, end=end))

    rows = [row for page in pages for row in page]
    assert len(pages) == 3
    assert sorted((r.bucket_start, r.provider_key_id) for r in rows) == sorted(
        [(T0 + h * HOUR, "key_Z9") for h in hours] + [(T0 + 170 * HOUR, "key_Y8")]
    )
    assert all(r.input_tokens != 999 for r in rows)
    completions = openai_emulator.requests_to("GET", "/organization/usage/completions")
    assert len(completions) == 3
    assert completions[0].query_list("group_by") == ["api_key_id", "model", "project_id"]
    assert [r.query_value("page") for r in completions][0] is None
    assert all(r.query_value("page") for r in completions[1:])
    first = completions[0]
    assert first.query_value("start_time") == str(int(T0.timestamp()))
    assert first.query_value("end_time") == str(int(end.timestamp()))
    assert (first.query_value("bucket_width"), first.query_value("limit")) == ("1h", "168")
    assert len(openai_emulator.requests_to("GET", "/organization/usage/embeddings")) == 3


def test_usage_rows_map_cached_tokens_and_nulls(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.add_usage(
        T0,
        api_key_id="key_Z9",
        model="gpt-4o-mini-2024-07-18",
        project_id="proj_8Kx2",
        input_tokens=12000,
        input_cached_tokens=4000,
        input_cache_write_tokens=500,
        output_tokens=3000,
        num_model_requests=42,
    )
    openai_emulator.add_usage(T0, api_key_id=None, model=None, input_tokens=10, num_model_requests=1)
    openai_emulator.add_usage(
        T0 + HOUR, kind="embeddings", api_key_id="key_Z9", model="text-embedding-3-small", input_tokens=800
    )

    rows = [row for page in provider.pull_usage(start=T0, end=T0 + 2 * HOUR) for row in page]

    by_model = {r.model: r for r in rows}
    chat = by_model["gpt-4o-mini-2024-07-18"]
    assert chat.bucket_start == T0
    assert chat.bucket_width == "1h"
    assert chat.provider_key_id == "key_Z9"
    assert (chat.input_tokens, chat.cached_input_tokens, chat.cache_write_tokens) == (12000, 4000, 500)
    assert (chat.output_tokens, chat.requests, chat.cost_usd) == (3000, 42, None)
    assert chat.dimensions == {"project_id": "proj_8Kx2"}
    console = by_model["unknown"]
    assert console.provider_key_id is None
    assert console.dimensions == {}
    embedding = by_model["text-embedding-3-small"]
    assert (embedding.bucket_start, embedding.input_tokens, embedding.output_tokens) == (T0 + HOUR, 800, 0)


def test_usage_sums_records_within_a_bucket(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    for minute in (0, 20, 40):
        openai_emulator.add_usage(
            T0 + timedelta(minutes=minute), api_key_id="key_Z9", model="gpt-4o", input_tokens=10, output_tokens=1
        )
    (page,) = provider.pull_usage(start=T0, end=T0 + HOUR)
    assert [(r.input_tokens, r.output_tokens) for r in page] == [(30, 3)]


def test_empty_usage_yields_no_pages(provider: OpenAIProvider) -> None:
    assert list(provider.pull_usage(start=T0, end=T0 + 24 * HOUR)) == []


def test_malformed_usage_body_is_an_error(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.fail_next(malformed=True, path_prefix="/organization/usage")
    with pytest.raises(ProviderError, match="malformed"):
        list(provider.pull_usage(start=T0, end=T0 + HOUR))


@pytest.mark.parametrize(
    "body",
    [
        {"object": "page", "has_more": False},
        {"object": "page", "data": [{"start_time": 1735689600, "results": "nope"}]},
        {"object": "page", "data": [{"start_time": 1735689600, "results": [{"input_tokens": "12"}]}]},
        {"object": "page", "data": [{"results": []}]},
    ],
)
def test_wrongly_shaped_usage_page_is_an_error(
    provider: OpenAIProvider, openai_emulator: OpenAIEmulator, body: dict
) -> None:
    openai_emulator.override("GET", r"/v1/organization/usage/completions", lambda request: json_reply(body))
    with pytest.raises(ProviderError, match="malformed"):
        list(provider.pull_usage(start=T0, end=T0 + HOUR))


# --- cost --------------------------------------------------------------------------------------------


def test_pull_cost_reads_float_dollars_per_project_and_key(
    provider: OpenAIProvider, openai_emulator: OpenAIEmulator
) -> None:
    day = timedelta(days=1)
    openai_emulator.add_cost(T0, 0.42, project_id="proj_8Kx2", line_item="gpt-4o, input", api_key_id="key_a")
    openai_emulator.add_cost(T0, 0.08, project_id="proj_8Kx2", line_item="gpt-4o, output", api_key_id="key_a")
    openai_emulator.add_cost(T0, 0.25, project_id="proj_8Kx2")  # cost no key carries
    openai_emulator.add_cost(T0 + day, 1.5, project_id="proj_other", api_key_id="key_b")
    openai_emulator.add_cost(T0 + 3 * day, 7, project_id="proj_8Kx2")  # outside the window

    rows = [row for page in provider.pull_cost(start=T0, end=T0 + 2 * day) for row in page]

    assert sorted((r.day_start, r.amount_usd, r.provider_key_id or "", r.dimensions["project_id"]) for r in rows) == [
        (T0, Decimal("0.25"), "", "proj_8Kx2"),
        (T0, Decimal("0.5"), "key_a", "proj_8Kx2"),
        (T0 + day, Decimal("1.5"), "key_b", "proj_other"),
    ]
    (request,) = openai_emulator.requests_to("GET", "/organization/costs")
    assert request.query_list("group_by") == ["project_id", "api_key_id"]
    assert (request.query_value("bucket_width"), request.query_value("limit")) == ("1d", "180")


def test_pull_cost_follows_pages(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    day = timedelta(days=1)
    for d in range(0, 400, 50):
        openai_emulator.add_cost(T0 + d * day, "0.10", project_id="proj_8Kx2")
    rows = [row for page in provider.pull_cost(start=T0, end=T0 + 400 * day) for row in page]
    assert len(rows) == 8
    assert sum(r.amount_usd for r in rows) == Decimal("0.80")
    assert len(openai_emulator.requests_to("GET", "/organization/costs")) == 3


# --- errors ------------------------------------------------------------------------------------------


def test_insufficient_quota_is_permanent_and_not_retried(
    provider: OpenAIProvider, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.fail_next(3, status=429, code="insufficient_quota", message="You exceeded your current quota.")
    with pytest.raises(ProviderError, match="You exceeded your current quota") as caught:
        provider.mint_key(name="alloc-dave")
    assert caught.value.permanent is True
    assert len(openai_emulator.requests) == 1


def test_server_errors_are_retried(provider: OpenAIProvider, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.fail_next(2, status=502)
    assert len(provider.list_keys()) == 0
    assert len(openai_emulator.requests) == 3


def test_slow_answer_times_out(openai_emulator: OpenAIEmulator, project_id: str) -> None:
    provider = make_provider(openai_emulator, project_id=project_id, timeout=0.3, retries=0)
    openai_emulator.fail_next(delay=2)
    with pytest.raises(ProviderError, match="timed out"):
        provider.mint_key(name="alloc-erin")


# --- emulator behaviour other tests rely on ------------------------------------------------------------


def test_emulator_accepts_both_array_styles(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.add_usage(T0, api_key_id="key_1", model="gpt-4o", project_id="proj_1", input_tokens=5)
    headers = {"Authorization": f"Bearer {openai_emulator.credential}"}
    base = [("start_time", int(T0.timestamp())), ("end_time", int((T0 + HOUR).timestamp())), ("bucket_width", "1h")]
    for style in ("group_by", "group_by[]"):
        body = httpx.get(
            openai_emulator.url + "/organization/usage/completions",
            params=[*base, (style, "model")],
            headers=headers,
        ).json()
        (result,) = body["data"][0]["results"]
        assert (result["model"], result["api_key_id"], result["project_id"]) == ("gpt-4o", None, None)
        assert body["object"] == "page"
        assert body["data"][0]["object"] == "bucket"
