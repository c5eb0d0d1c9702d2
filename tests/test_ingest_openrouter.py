"""Usage sync against the OpenRouter emulator: provider cost per key, the live "today" row, deleted keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum

from allocator.models import ProviderKind, SyncRun, UsageBucket
from allocator.providers.base import ProviderError
from allocator.providers.openrouter import TODAY_MODEL
from allocator.usage.sync import sync_window, usage_sync
from tests.factories import KeyFactory
from tests.usage_helpers import assert_rollups_match, emulator_account

pytestmark = pytest.mark.django_db

MINI = "openai/gpt-4o-mini"


@pytest.fixture
def account(openrouter_emulator):
    return emulator_account(ProviderKind.OPENROUTER, openrouter_emulator)


def remote_key(emulator, account, owner, team, name="alloc-erin"):
    key_hash = emulator.add_key(name)["hash"]
    return key_hash, KeyFactory(account=account, owner_user=owner, team=team, provider_key_id=key_hash)


def test_provider_cost_per_key_and_the_live_today_row(openrouter_emulator, account, engineer, team):
    with time_machine.travel(datetime(2026, 11, 10, 15, 0, tzinfo=UTC), tick=True):
        key_hash, key = remote_key(openrouter_emulator, account, engineer, team)
        for day, cost in (("2026-11-08", "0.42"), ("2026-11-09", "0.58")):
            openrouter_emulator.add_activity(day, api_key_hash=key_hash, model=MINI, usage=cost, requests=10,
                                             prompt_tokens=20_000, completion_tokens=3_000)  # fmt: skip
        openrouter_emulator.add_activity("2026-11-09", api_key_hash=key_hash, model=MINI, usage="0.02", requests=1,
                                         endpoint_id="ep_other")  # fmt: skip
        openrouter_emulator.set_key_usage(key_hash, usage_daily="1.5")

        usage_sync(account=account, since=datetime(2026, 11, 8, tzinfo=UTC))

        rows = {(b.bucket_start.date(), b.model): b for b in UsageBucket.objects.filter(key=key)}
        assert rows[(date(2026, 11, 9), MINI)].cost_usd == Decimal("0.600000")  # endpoints summed per model
        assert rows[(date(2026, 11, 9), MINI)].requests == 11
        assert {b.cost_source for b in rows.values()} == {"provider"}
        today = rows[(date(2026, 11, 10), TODAY_MODEL)]
        assert today.cost_usd == Decimal("1.500000") and today.requests is None and today.bucket_width == "1d"

    with time_machine.travel(datetime(2026, 11, 11, 9, 0, tzinfo=UTC), tick=True):
        # The day completed: /activity has it now, and usage_daily restarted for the new day.
        openrouter_emulator.add_activity("2026-11-10", api_key_hash=key_hash, model=MINI, usage="1.8", requests=30)
        openrouter_emulator.set_key_usage(key_hash, usage_daily="0.3")

        run = usage_sync(account=account)

        assert run.status == SyncRun.Status.SUCCEEDED
        rows = {(b.bucket_start.date(), b.model): b.cost_usd for b in UsageBucket.objects.filter(key=key)}
        assert rows == {
            (date(2026, 11, 8), MINI): Decimal("0.420000"),
            (date(2026, 11, 9), MINI): Decimal("0.600000"),
            (date(2026, 11, 10), MINI): Decimal("1.800000"),  # replaced the live $1.50 figure
            (date(2026, 11, 11), TODAY_MODEL): Decimal("0.300000"),
        }
        assert_rollups_match(account)


def test_a_deleted_keys_history_is_kept(openrouter_emulator, account, engineer, manager, team):
    now = datetime.now(UTC)
    days = [(now - timedelta(days=n)).date().isoformat() for n in (2, 1)]
    gone_hash, gone = remote_key(openrouter_emulator, account, engineer, team, "alloc-gone")
    kept_hash, kept = remote_key(openrouter_emulator, account, manager, team, "alloc-kept")
    for day in days:
        openrouter_emulator.add_activity(day, api_key_hash=gone_hash, model=MINI, usage="2", requests=5)
        openrouter_emulator.add_activity(day, api_key_hash=kept_hash, model=MINI, usage="1", requests=5)
    since = now - timedelta(days=3)
    usage_sync(account=account, since=since)

    del openrouter_emulator.keys[gone_hash]  # revoked: OpenRouter forgets the key and its activity listing
    openrouter_emulator.add_activity(days[1], api_key_hash=kept_hash, model=MINI, usage="0.5", requests=1)
    usage_sync(account=account, since=since)

    assert UsageBucket.objects.filter(key=gone).aggregate(t=Sum("cost_usd"))["t"] == Decimal("4.000000")
    assert UsageBucket.objects.filter(key=kept).aggregate(t=Sum("cost_usd"))["t"] == Decimal("2.500000")
    assert_rollups_match(account)


def test_windows_reach_back_only_as_far_as_openrouter_keeps_activity(account):
    start, _ = sync_window(account=account, since=datetime.now(UTC) - timedelta(days=90))
    assert datetime.now(UTC) - start <= timedelta(days=31)


def test_a_malformed_activity_answer_fails_the_run(openrouter_emulator, account, engineer, team):
    key_hash, _ = remote_key(openrouter_emulator, account, engineer, team)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    openrouter_emulator.add_activity(yesterday, api_key_hash=key_hash, model=MINI, usage="1", requests=1)
    openrouter_emulator.fail_next(1, malformed=True, path_prefix="/activity")
    with pytest.raises(ProviderError):
        usage_sync(account=account, since=datetime.now(UTC) - timedelta(days=2))
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED and "malformed" in run.error
