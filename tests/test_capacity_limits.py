"""Reading rate limits over real HTTP from the OpenAI and Anthropic emulators (paging, 429 with Retry-After, malformed
bodies), storing them, and recording a limit by hand."""

from __future__ import annotations

import pytest

from allocator.capacity.limits import LimitInputError, limit_record, limits_refresh
from allocator.capacity.models import CapacityRead, RateLimitRecord, ThrottleHint
from allocator.models import ProviderAccount
from allocator.providers import capacity
from allocator.providers.base import ProviderError
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.openai import OpenAIEmulator
from tests.factories import KeyFactory


@pytest.fixture
def openai_account(db, openai_emulator: OpenAIEmulator) -> ProviderAccount:
    openai_emulator.add_project("prod", project_id="proj_prod")
    return ProviderAccount.objects.create(
        name="Prod-OpenAI",
        kind="openai",
        base_url=openai_emulator.url,
        credential=openai_emulator.credential,
        options={"project_id": "proj_prod", "max_sleep": 0.02},
    )


@pytest.fixture
def anthropic_account(db, anthropic_emulator: AnthropicEmulator) -> ProviderAccount:
    return ProviderAccount.objects.create(
        name="Anthropic",
        kind="anthropic",
        base_url=anthropic_emulator.url,
        credential=anthropic_emulator.credential,
        options={"max_sleep": 0.02},
    )


def _stored(account) -> dict[tuple[str, str, str], int]:
    return {
        (r.scope, r.model, r.dimension): r.value
        for r in RateLimitRecord.objects.filter(account=account, source=RateLimitRecord.Source.PROVIDER)
    }


def test_openai_rate_limits_are_read_page_by_page(openai_account, openai_emulator):
    for n in range(130):
        openai_emulator.add_rate_limit("proj_prod", f"model-{n:03d}", max_tokens_per_1_minute=1000 + n)
    openai_emulator.add_rate_limit(
        "proj_prod", "gpt-4.1", max_requests_per_1_day=10_000, max_images_per_1_minute=5, batch_1_day_max_input_tokens=9
    )
    assert limits_refresh(account=openai_account) == 131 * 2 + 2
    stored = _stored(openai_account)
    assert stored[("proj_prod", "model-129", capacity.TOKENS_PER_MINUTE)] == 1129
    assert stored[("proj_prod", "model-129", capacity.REQUESTS_PER_MINUTE)] == 500
    assert stored[("proj_prod", "gpt-4.1", capacity.REQUESTS_PER_DAY)] == 10_000
    assert stored[("proj_prod", "gpt-4.1", capacity.BATCH_INPUT_TOKENS_PER_DAY)] == 9
    pages = openai_emulator.requests_to("GET", "/v1/organization/projects/proj_prod/rate_limits")
    assert [p.query_value("after") for p in pages] == [None, "rl_model-099"]
    assert CapacityRead.objects.get(account=openai_account).limits_read_at is not None


def test_openai_429_is_retried_after_retry_after_and_kept_as_a_hint(openai_account, openai_emulator):
    openai_emulator.add_rate_limit("proj_prod", "gpt-4.1", max_tokens_per_1_minute=2_000_000)
    openai_emulator.fail_next(status=429, retry_after=0.01, path_prefix="/organization/projects")
    assert limits_refresh(account=openai_account) == 2
    assert ThrottleHint.objects.get(account=openai_account).count == 1


def test_a_malformed_answer_keeps_the_stored_limits_and_says_why(openai_account, openai_emulator):
    openai_emulator.add_rate_limit("proj_prod", "gpt-4.1", max_tokens_per_1_minute=2_000_000)
    limits_refresh(account=openai_account)
    openai_emulator.fail_next(malformed=True, path_prefix="/organization/projects")
    with pytest.raises(ProviderError, match="malformed"):
        limits_refresh(account=openai_account)
    assert _stored(openai_account)[("proj_prod", "gpt-4.1", capacity.TOKENS_PER_MINUTE)] == 2_000_000
    assert "malformed" in CapacityRead.objects.get(account=openai_account).limits_error


def test_a_rate_limit_without_a_model_is_malformed(openai_account, openai_emulator):
    openai_emulator.rate_limits["proj_prod"] = [{"object": "project.rate_limit", "id": "rl_x", "model": None}]
    with pytest.raises(ProviderError, match="malformed project rate limit"):
        limits_refresh(account=openai_account)


def test_a_limit_no_longer_reported_goes_and_a_kept_one_keeps_its_row(openai_account, openai_emulator):
    openai_emulator.add_rate_limit("proj_prod", "gpt-4.1", max_tokens_per_1_minute=2_000_000)
    openai_emulator.add_rate_limit("proj_prod", "gpt-4o", max_tokens_per_1_minute=1_000_000)
    limits_refresh(account=openai_account)
    kept = RateLimitRecord.objects.get(model="gpt-4.1", dimension=capacity.TOKENS_PER_MINUTE)
    openai_emulator.rate_limits["proj_prod"] = openai_emulator.rate_limits["proj_prod"][:1]
    openai_emulator.rate_limits["proj_prod"][0]["max_tokens_per_1_minute"] = 3_000_000
    limits_refresh(account=openai_account)
    assert set(RateLimitRecord.objects.values_list("model", flat=True)) == {"gpt-4.1"}
    kept.refresh_from_db()
    assert kept.value == 3_000_000  # same row: its page and its alerts stay


def test_anthropic_org_and_workspace_limits_with_org_limit_and_paging(anthropic_account, anthropic_emulator):
    for n in range(25):
        anthropic_emulator.add_rate_limit([f"claude-{n}"], {"input_tokens_per_minute": 100_000 + n})
    anthropic_emulator.add_rate_limit(
        ["claude-sonnet-4"],
        {"input_tokens_per_minute": 400_000, "output_tokens_per_minute": 80_000, "requests_per_minute": 4000},
    )
    anthropic_emulator.add_rate_limit(
        ["claude-sonnet-4"], {"input_tokens_per_minute": 100_000}, workspace_id="wrkspc_01"
    )
    anthropic_emulator.add_rate_limit(["claude-3-5-haiku"], {"tokens_per_day": 5}, group_type="token_count")
    KeyFactory(account=anthropic_account, provider_data={"workspace_id": "wrkspc_01"})
    limits_refresh(account=anthropic_account)
    records = {(r.scope, r.model, r.dimension): r for r in RateLimitRecord.objects.filter(account=anthropic_account)}
    org = records[("", "claude-sonnet-4", capacity.INPUT_TOKENS_PER_MINUTE)]
    assert (org.value, org.org_limit) == (400_000, 400_000)
    workspace = records[("wrkspc_01", "claude-sonnet-4", capacity.INPUT_TOKENS_PER_MINUTE)]
    assert (workspace.value, workspace.org_limit) == (100_000, 400_000)
    assert ("wrkspc_01", "claude-24", capacity.INPUT_TOKENS_PER_MINUTE) in records  # inherited, read with it
    assert ("", "claude-24", capacity.INPUT_TOKENS_PER_MINUTE) in records  # the second page of the org's
    assert not any(model == "claude-3-5-haiku" for _, model, _ in records)
    calls = anthropic_emulator.requests_to("GET", "/v1/organizations/workspaces/wrkspc_01/rate_limits")
    assert calls and all(c.query_value("include_inherited") == "true" for c in calls)


def test_anthropic_malformed_limiter_is_an_error(anthropic_account, anthropic_emulator):
    anthropic_emulator.org_rate_limits.append(
        {
            "type": "rate_limit",
            "group_type": "model_group",
            "models": ["claude-x"],
            "limits": [{"type": "requests_per_minute", "value": "lots"}],
        }
    )
    with pytest.raises(ProviderError, match="malformed rate limit"):
        limits_refresh(account=anthropic_account)


def test_anthropic_429_then_success(anthropic_account, anthropic_emulator):
    anthropic_emulator.add_rate_limit(["claude-sonnet-4"], {"requests_per_minute": 4000})
    anthropic_emulator.fail_next(status=429, retry_after=0.01, path_prefix="/v1/organizations/rate_limits")
    assert limits_refresh(account=anthropic_account) == 1
    assert ThrottleHint.objects.get(account=anthropic_account).count == 1


def test_simulated_limits_are_configurable(simulated):
    simulated.options = {"rate_limits": [{"model": "m", "dimension": capacity.TOKENS_PER_MINUTE, "value": 7}]}
    simulated.save()
    assert limits_refresh(account=simulated) == 1
    assert _stored(simulated) == {("", "m", capacity.TOKENS_PER_MINUTE): 7}


def test_a_manual_limit_is_bounded_and_audited(simulated, admin):
    with pytest.raises(LimitInputError):
        limit_record(
            account=simulated, model="gpt-4.1", dimension=capacity.TOKENS_PER_MINUTE, value=0, note="", by=admin
        )
    with pytest.raises(LimitInputError):
        limit_record(account=simulated, model="gpt-4.1", dimension="tokens_per_hour", value=5, note="", by=admin)
    record = limit_record(
        account=simulated,
        model="gpt-4.1",
        dimension=capacity.TOKENS_PER_MINUTE,
        value=1_500_000,
        note="429s above",
        by=admin,
    )
    assert record.source == RateLimitRecord.Source.MANUAL and record.recorded_by == admin
    from accounts.models import AuditEvent

    assert AuditEvent.objects.filter(action="capacity.limit_recorded").count() == 1
