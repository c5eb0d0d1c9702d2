"""Usage sync against the Anthropic emulator: no request counts, cache writes priced, workspace cost reconciled."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from allocator.models import BilledCost, DailyRollup, ProviderAccount, ProviderKind, SyncRun, UsageBucket
from allocator.providers.base import ProviderError
from allocator.usage.sync import usage_sync
from tests.factories import KeyFactory
from tests.usage_helpers import assert_rollups_match, day_start, emulator_account, hour

pytestmark = pytest.mark.django_db

SONNET = "claude-sonnet-4-20250514"


@pytest.fixture
def account(anthropic_emulator):
    return emulator_account(ProviderKind.ANTHROPIC, anthropic_emulator)


@pytest.fixture
def key(account, engineer, team):
    return KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="apikey_01Xy")


def sonnet(emulator, hours_ago: int, **extra) -> None:
    # The provider-apis.md section 7 example: 1500 uncached + 200 read + 500 (5 min) + 100 (1 h) in, 700 out.
    emulator.add_usage(
        hour(hours_ago),
        api_key_id=extra.pop("api_key_id", "apikey_01Xy"),
        model=SONNET,
        workspace_id=extra.pop("workspace_id", "wrkspc_01AbC"),
        uncached_input_tokens=1500,
        cache_read_input_tokens=200,
        cache_creation_5m_input_tokens=500,
        cache_creation_1h_input_tokens=100,
        output_tokens=700,
        **extra,
    )


def test_usage_has_no_request_counts_and_cache_writes_are_priced(anthropic_emulator, account, key):
    for h in range(2, 200, 20):  # two pages of hourly buckets
        sonnet(anthropic_emulator, h)
    sonnet(anthropic_emulator, 7, api_key_id=None, workspace_id=None)  # Console usage: no key, default workspace

    run = usage_sync(account=account, since=hour(210))

    assert run.status == SyncRun.Status.SUCCEEDED
    assert len(anthropic_emulator.requests_to("GET", "/v1/organizations/usage_report/messages")) == 2
    bucket = UsageBucket.objects.filter(key=key).first()
    assert (bucket.input_tokens, bucket.cached_input_tokens, bucket.cache_write_tokens) == (2300, 200, 600)
    assert bucket.requests is None  # Anthropic reports none: n/a, never 0
    assert bucket.cost_usd == Decimal("0.017535")  # section 7's check, through the real path
    assert bucket.dims == "workspace_id=wrkspc_01AbC"
    console = UsageBucket.objects.get(provider_key_id="")
    assert console.key is None and console.dims == "workspace_id=default"

    assert not DailyRollup.objects.filter(requests__isnull=False).exists()
    assert DailyRollup.objects.aggregate(n=Sum("requests"))["n"] is None
    assert DailyRollup.objects.filter(key=key).aggregate(t=Sum("cost_usd"))["t"] == Decimal("0.175350")
    assert_rollups_match(account)


def test_workspace_cost_in_cents_is_the_truth(anthropic_emulator, account, key):
    yesterday = day_start(hour(0)) - timedelta(days=1)
    for h in (1, 8, 15):
        anthropic_emulator.add_usage(yesterday + timedelta(hours=h), api_key_id="apikey_01Xy", model=SONNET,
                                     workspace_id="wrkspc_01AbC", uncached_input_tokens=10_000,
                                     output_tokens=1_000)  # fmt: skip
    # Estimate: 3 × ($0.03 + $0.015) = $0.135. The bill: 16.2 cents.
    anthropic_emulator.add_cost(yesterday, "16.2", workspace_id="wrkspc_01AbC")

    usage_sync(account=account, since=yesterday)

    rows = UsageBucket.objects.filter(key=key)
    assert rows.aggregate(t=Sum("cost_usd"))["t"] == Decimal("0.162000")
    assert set(rows.values_list("cost_source", flat=True)) == {"reconciled"}
    billed = BilledCost.objects.get()
    assert (billed.dims, billed.billed_usd, billed.estimated_usd) == (
        "workspace_id=wrkspc_01AbC",
        Decimal("0.162000"),
        Decimal("0.135000"),
    )
    assert DailyRollup.objects.aggregate(t=Sum("cost_usd"))["t"] == Decimal("0.162000")


def test_overloaded_529_is_retried(anthropic_emulator, account, key):
    sonnet(anthropic_emulator, 3)
    anthropic_emulator.fail_next(1, status=529, path_prefix="/v1/organizations/usage_report")
    assert usage_sync(account=account, since=hour(5)).status == SyncRun.Status.SUCCEEDED
    assert UsageBucket.objects.count() == 1


def test_rejected_admin_key_marks_credentials_invalid(anthropic_emulator, admin):
    account = ProviderAccount.objects.create(
        name="Anthropic", kind="anthropic", base_url=anthropic_emulator.url, credential="sk-ant-api03-not-admin"
    )
    with pytest.raises(ProviderError) as raised:
        usage_sync(account=account, since=hour(5))
    assert raised.value.auth
    account.refresh_from_db()
    assert account.status == ProviderAccount.Status.CREDENTIALS_INVALID
    assert admin.notifications.count() == 1
