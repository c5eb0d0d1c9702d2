"""Daily peak and p99 minutes from minute buckets served by the emulators (and the simulated provider), counted as
each provider's limiters count; minute rows are not kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from allocator.capacity.models import CapacityRead, DemandPeak, ThrottleHint
from allocator.capacity.peaks import demand_sync, percentile
from allocator.models import ProviderAccount, UsageBucket
from allocator.providers import capacity
from allocator.providers.base import ProviderError


def _peaks(account) -> dict[tuple[str, str, str], tuple[int, int]]:
    return {(p.scope, p.model, p.dimension): (p.peak, p.p99) for p in DemandPeak.objects.filter(account=account)}


@pytest.fixture
def now() -> datetime:
    return timezone.now().astimezone(UTC).replace(second=0, microsecond=0)


def test_percentile_counts_quiet_minutes():
    assert percentile([10] * 20, 0.99, population=1440) == 10  # 20 busy minutes: more than the top 1 %
    assert percentile([10] * 5, 0.99, population=1440) == 0
    assert percentile(list(range(1, 101)), 0.99, population=100) == 99


def test_openai_minute_peaks_per_project_and_model(db, openai_emulator, now):
    openai_emulator.add_project("prod", project_id="proj_prod")
    account = ProviderAccount.objects.create(
        name="Prod-OpenAI", kind="openai", base_url=openai_emulator.url, credential=openai_emulator.credential,
        options={"max_sleep": 0.02},
    )  # fmt: skip
    busy = now - timedelta(minutes=2)
    counts = {"input_tokens": 6000, "input_cached_tokens": 2000, "output_tokens": 1000, "num_model_requests": 3}
    for key in ("key_a", "key_b"):  # two keys in the same minute add up
        openai_emulator.add_usage(busy, api_key_id=key, model="gpt-4.1", project_id="proj_prod", **counts)
    openai_emulator.add_usage(now - timedelta(minutes=1), model="gpt-4.1", project_id="proj_prod", input_tokens=100,
                              output_tokens=50, num_model_requests=1)  # fmt: skip
    openai_emulator.add_usage(now - timedelta(days=3), model="gpt-4.1", project_id="proj_prod", input_tokens=10**9)
    assert demand_sync(account=account, now=now) > 0
    peaks = _peaks(account)
    assert peaks[("proj_prod", "gpt-4.1", capacity.TOKENS_PER_MINUTE)][0] == 14_000  # cached input counts at OpenAI
    assert peaks[("proj_prod", "gpt-4.1", capacity.REQUESTS_PER_MINUTE)][0] == 6
    assert peaks[("", "gpt-4.1", capacity.TOKENS_PER_MINUTE)][0] == 14_000  # the whole account too
    assert {p.day for p in DemandPeak.objects.all()} == {busy.date(), (now - timedelta(minutes=1)).date()}
    widths = {
        r.query_value("bucket_width") for r in openai_emulator.requests_to("GET", "/v1/organization/usage/completions")
    }
    assert widths == {"1m"}
    assert not UsageBucket.objects.exists()  # minute rows are never stored


def test_anthropic_cached_reads_do_not_count_and_requests_are_not_reported(db, anthropic_emulator, now):
    account = ProviderAccount.objects.create(
        name="Anthropic", kind="anthropic", base_url=anthropic_emulator.url, credential=anthropic_emulator.credential
    )
    anthropic_emulator.add_usage(now - timedelta(minutes=2), model="claude-sonnet-4", workspace_id="wrkspc_01",
                                 uncached_input_tokens=1000, cache_read_input_tokens=9000,
                                 cache_creation_5m_input_tokens=500, output_tokens=300)  # fmt: skip
    demand_sync(account=account, now=now)
    peaks = _peaks(account)
    assert peaks[("wrkspc_01", "claude-sonnet-4", capacity.INPUT_TOKENS_PER_MINUTE)][0] == 1500
    assert peaks[("", "claude-sonnet-4", capacity.OUTPUT_TOKENS_PER_MINUTE)][0] == 300
    assert not DemandPeak.objects.filter(dimension=capacity.REQUESTS_PER_MINUTE).exists()  # n/a, never 0


def test_a_repull_replaces_the_days_it_covers(db, anthropic_emulator, now):
    account = ProviderAccount.objects.create(
        name="Anthropic", kind="anthropic", base_url=anthropic_emulator.url, credential=anthropic_emulator.credential
    )
    anthropic_emulator.add_usage(now - timedelta(minutes=2), model="claude-sonnet-4", output_tokens=300)
    demand_sync(account=account, now=now)
    demand_sync(account=account, now=now)
    assert DemandPeak.objects.filter(dimension=capacity.OUTPUT_TOKENS_PER_MINUTE).count() == 2  # default ws + all


def test_a_malformed_minute_page_stores_nothing_and_says_so(db, anthropic_emulator, now):
    account = ProviderAccount.objects.create(
        name="Anthropic", kind="anthropic", base_url=anthropic_emulator.url, credential=anthropic_emulator.credential,
        options={"max_sleep": 0.02},
    )  # fmt: skip
    anthropic_emulator.add_usage(now - timedelta(minutes=2), model="claude-sonnet-4", output_tokens=300)
    anthropic_emulator.fail_next(2, status=429, retry_after=0.01)
    anthropic_emulator.fail_next(malformed=True)
    with pytest.raises(ProviderError, match="malformed"):
        demand_sync(account=account, now=now)
    assert not DemandPeak.objects.exists()
    assert "malformed" in CapacityRead.objects.get(account=account).demand_error
    assert ThrottleHint.objects.get(account=account).count == 2


def test_simulated_demo_demand_grows_on_one_model(simulated):
    simulated.options = {"growth_anchor": timezone.now().date().isoformat()}
    simulated.save()
    since = timezone.now() - timedelta(days=20)
    demand_sync(account=simulated, since=since)
    rows = DemandPeak.objects.filter(model="gpt-4.1", dimension=capacity.TOKENS_PER_MINUTE).order_by("day")
    first, last = rows.first(), rows.filter(minutes=1440).last()
    assert last.peak > 1.6 * first.peak  # doubling every 21 days: about 1.9 × over 19 days
    assert 1_500_000 < last.peak < 2_000_000  # near its 2,000,000 limit, below it
    steady = DemandPeak.objects.filter(model="claude-sonnet-4", dimension=capacity.TOKENS_PER_MINUTE, minutes=1440)
    assert max(p.peak for p in steady) < 1.1 * min(p.peak for p in steady)
