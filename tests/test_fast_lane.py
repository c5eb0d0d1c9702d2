"""The fast lane: a key pushed from 79 % to 130 % of its hard budget in one hour is suspended within 2 minutes of
crossing 100 %, with the regular sync only every 15 minutes; the lane's provider calls stay within the policy's
budget a minute."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from allocator.models import Key, ProviderKind, SimulatedKey
from allocator.providers.simulated.usage import _Key
from allocator.usage.pricing import Pricer
from allocator.usage.sync import usage_sync
from budgets.enforce import enforce_budgets
from budgets.fast_lane import fast_lane_keys, fast_lane_run
from budgets.models import BudgetPolicy
from budgets.tasks import fast_lane
from tests.budget_factories import MID_QUARTER, AlertFactory, pinned_clock, simulated_key, spend, user_budget
from tests.factories import KeyFactory
from tests.usage_helpers import emulator_account

HOUR_START = MID_QUARTER.replace(minute=0)
REGULAR_SYNC_MINUTES = 15
PROFILE = {"rate": 400, "models": [["gpt-4o", 1.0]], "cache": 0, "input": 2000, "output": 400, "pattern": "service"}


def _hour_cost(key: Key) -> Decimal:
    """What the simulated provider will report for the key's whole hour (its rows, priced as a sync prices them)."""
    pricer = Pricer(provider="simulated")
    rows = _Key(SimulatedKey.objects.get(key_id=key.provider_key_id)).rows(HOUR_START, HOUR_START + timedelta(hours=1))
    return sum((pricer.price(row)[1] for row in rows), Decimal(0))


@pytest.fixture
def runaway_key(db, simulated, team, engineer):
    """Erin's key, created at the top of the hour, about to spend 51 % of her hard budget within that hour, with
    79 % of it spent already."""
    with time_machine.travel(HOUR_START, tick=False):  # the budget is for the quarter of that hour
        key = simulated_key(simulated, team=team, owner_user=engineer)
        SimulatedKey.objects.filter(key_id=key.provider_key_id).update(profile=PROFILE, created_at=HOUR_START)
        hour = _hour_cost(key)
        budget = (hour / Decimal("0.51")).quantize(Decimal("0.01"))
        user_budget(engineer, team, budget)
        spend(key, (budget * Decimal("0.79")).quantize(Decimal("0.01")), day=HOUR_START.date() - timedelta(days=1))
    return key, budget, hour


def test_a_key_crossing_its_budget_mid_hour_is_suspended_within_two_minutes(policy, runaway_key):
    key, budget, hour = runaway_key
    already = budget * Decimal("0.79")
    crossed_at = suspended_at = None
    with time_machine.travel(HOUR_START, tick=False) as clock:
        for minute in range(61):
            clock.move_to(HOUR_START + timedelta(minutes=minute))
            if minute % REGULAR_SYNC_MINUTES == 0:  # the regular schedule of a real provider
                usage_sync(account=key.account, trigger="beat", enforce=False)
                enforce_budgets()
            fast_lane.apply().get()  # beat's entry, every minute
            if crossed_at is None and already + hour * minute / 60 >= budget:
                crossed_at = minute
            key.refresh_from_db()
            if key.status == Key.Status.SUSPENDED:
                suspended_at = minute
                break
    assert crossed_at is not None and 15 < crossed_at < 30  # between two regular syncs
    assert suspended_at is not None and suspended_at - crossed_at <= 2
    assert "Over" in key.status_reason


def test_without_the_fast_lane_the_same_key_waits_for_the_next_regular_sync(policy, runaway_key):
    key, budget, hour = runaway_key
    BudgetPolicy.objects.filter(pk=BudgetPolicy.current().pk).update(fast_lane_percent=0)
    with time_machine.travel(HOUR_START, tick=False) as clock:
        for minute in range(0, 31):
            clock.move_to(HOUR_START + timedelta(minutes=minute))
            if minute % REGULAR_SYNC_MINUTES == 0:
                usage_sync(account=key.account, trigger="beat", enforce=False)
                enforce_budgets()
            fast_lane_run()
            key.refresh_from_db()
            if key.status == Key.Status.SUSPENDED:
                break
    assert minute == 30  # the crossing near minute 25 is only seen by the sync at minute 30


@pinned_clock()
def test_keys_enter_the_lane_past_the_policy_share_or_as_runaway(policy, simulated, team, engineer, manager):
    near = simulated_key(simulated, team=team, owner_user=engineer)
    calm = simulated_key(simulated, team=team, owner_user=manager)
    user_budget(engineer, team, "100")
    user_budget(manager, team, "100")
    spend(near, "80")
    spend(calm, "79")
    assert fast_lane_keys(now=timezone.now(), policy=BudgetPolicy.current()) == {simulated.pk: {near.pk}}
    AlertFactory(kind="runaway", scope_key=f"key:{calm.pk}", key=calm, threshold=0, dedupe="hour")
    assert fast_lane_keys(now=timezone.now(), policy=BudgetPolicy.current()) == {simulated.pk: {near.pk, calm.pk}}


@pinned_clock()
def test_the_lane_spends_at_most_its_calls_a_minute(db, openai_emulator, team, engineer, policy):
    BudgetPolicy.objects.filter(pk=BudgetPolicy.current().pk).update(fast_lane_calls_per_minute=4)
    accounts = [emulator_account(ProviderKind.OPENAI, openai_emulator, name=f"OpenAI {n}") for n in range(2)]
    for account in accounts:
        key = KeyFactory(account=account, team=team, owner_user=engineer, limit_usd=Decimal("10"))
        spend(key, "9")  # 90 % of its allowance

    first = fast_lane_run()
    second = fast_lane_run()

    assert (first.calls, len(first.synced), len(first.deferred)) == (3, 1, 1)  # OpenAI: 3 calls an account
    assert second.synced == first.deferred  # the account synced longest ago goes first
    usage = openai_emulator.requests_to("GET", "/organization/usage/completions")
    assert {r.query_value("bucket_width") for r in usage} == {"1h"}
