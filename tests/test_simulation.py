"""The simulated provider's usage: deterministic, shaped like real usage, and live for the current hour."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import Sum
from django.urls import reverse

from allocator.models import DailyRollup, SimulatedKey, UsageBucket
from allocator.providers.simulated.usage import RUNAWAY_FACTOR, default_profile, force_runaway, simulated_usage_pages
from allocator.quarters import Quarter
from allocator.usage.sync import usage_sync
from tests.conftest import login
from tests.factories import KeyFactory
from tests.usage_helpers import assert_rollups_match

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 9, tzinfo=UTC)  # a Monday


def sim_key(account, key_id: str, *, created: datetime, **profile) -> SimulatedKey:
    base = {"rate": 200, "models": [["gpt-4o-mini", 0.7], ["claude-sonnet-4", 0.3]], "cache": 0.5, "input": 2000,
            "output": 400, "pattern": "office"}  # fmt: skip
    return SimulatedKey.objects.create(
        account_id=account.pk, key_id=key_id, name=key_id, hint="sk-sim-…", created_at=created,
        profile={**base, **profile},
    )  # fmt: skip


def pull(account, start: datetime, end: datetime) -> list:
    return [row for page in simulated_usage_pages(account_id=account.pk, start=start, end=end) for row in page]


def requests_by_hour(rows) -> dict:
    counts: dict = {}
    for row in rows:
        counts[row.bucket_start] = counts.get(row.bucket_start, 0) + row.requests
    return counts


def test_the_same_window_gives_the_same_rows_one_page_per_day(simulated):
    sim_key(simulated, "simkey_a", created=MONDAY - timedelta(days=30))
    with time_machine.travel(MONDAY + timedelta(days=3), tick=False):
        pages = list(simulated_usage_pages(account_id=simulated.pk, start=MONDAY, end=MONDAY + timedelta(days=2)))
        again = pull(simulated, MONDAY, MONDAY + timedelta(days=2))
    assert len(pages) == 2 and [r for p in pages for r in p] == again
    assert {r.bucket_width for r in again} == {"1h"} and {r.model for r in again} == {"gpt-4o-mini", "claude-sonnet-4"}
    cached = [r for r in again if r.cached_input_tokens]
    assert cached and all(r.cached_input_tokens <= r.input_tokens for r in again)
    assert any(r.cache_write_tokens for r in again if r.model.startswith("claude"))


def test_weekday_office_hours_dominate(simulated):
    sim_key(simulated, "simkey_office", created=MONDAY - timedelta(days=30))
    with time_machine.travel(MONDAY + timedelta(days=8), tick=False):
        by_hour = requests_by_hour(pull(simulated, MONDAY, MONDAY + timedelta(days=7)))
    weekday = sum(n for h, n in by_hour.items() if h.weekday() < 5)
    weekend = sum(n for h, n in by_hour.items() if h.weekday() >= 5)
    assert weekday / 5 > 4 * weekend / 2
    daytime = sum(n for h, n in by_hour.items() if 9 <= h.hour < 17)
    night = sum(n for h, n in by_hour.items() if h.hour < 5)
    assert daytime > 10 * night


def test_a_few_power_users_and_a_long_tail():
    rates = sorted(default_profile(f"alloc-person-{n}")["rate"] for n in range(400))
    assert rates[-20] > 4 * statistics.median(rates)  # the top 5 % are far above the typical key
    models = {m for n in range(400) for m, _ in default_profile(f"alloc-person-{n}")["models"]}
    assert {"gpt-4o-mini", "claude-sonnet-4"} <= models  # small and large models both in the mix


def test_nothing_before_creation_or_after_revocation(simulated):
    key = sim_key(simulated, "simkey_b", created=MONDAY + timedelta(hours=10, minutes=30))
    key.revoked, key.disabled_at = True, MONDAY + timedelta(days=1, hours=12)
    key.save()
    with time_machine.travel(MONDAY + timedelta(days=4), tick=False):
        rows = pull(simulated, MONDAY - timedelta(days=1), MONDAY + timedelta(days=3))
    hours = sorted({r.bucket_start for r in rows})
    assert hours[0] >= MONDAY + timedelta(hours=10) and hours[-1] < MONDAY + timedelta(days=1, hours=12)


def test_the_current_hour_grows_with_the_minutes(simulated):
    sim_key(simulated, "simkey_c", created=MONDAY - timedelta(days=3))
    noon = MONDAY + timedelta(hours=12)
    with time_machine.travel(noon + timedelta(minutes=10), tick=False):
        early = requests_by_hour(pull(simulated, noon, noon + timedelta(hours=1)))[noon]
    with time_machine.travel(noon + timedelta(minutes=50), tick=False):
        late = requests_by_hour(pull(simulated, noon, noon + timedelta(hours=1)))[noon]
    with time_machine.travel(noon + timedelta(hours=2), tick=False):
        full = requests_by_hour(pull(simulated, noon, noon + timedelta(hours=1)))[noon]
    assert early < late < full
    assert 3 < late / early < 7


def test_force_runaway_bursts_the_current_hour(simulated):
    key = sim_key(simulated, "simkey_d", created=MONDAY - timedelta(days=3))
    hour = MONDAY + timedelta(hours=14)
    with time_machine.travel(hour + timedelta(hours=1), tick=False):
        normal = requests_by_hour(pull(simulated, hour, hour + timedelta(hours=1)))[hour]
        force_runaway(key, at=hour + timedelta(minutes=20))
        burst = requests_by_hour(pull(simulated, hour, hour + timedelta(hours=1)))[hour]
        neighbour = requests_by_hour(pull(simulated, hour + timedelta(hours=-1), hour))
    assert burst > (RUNAWAY_FACTOR - 6) * normal
    assert max(neighbour.values()) < 3 * normal  # only that hour


# A weekday afternoon mid-quarter: the office-hours key is busy, and the quarter's spend is not the first minutes'.
@time_machine.travel(MONDAY + timedelta(days=3, hours=15, minutes=30), tick=True)
def test_a_simulated_sync_shows_spend_on_the_keys_page(simulated, engineer, team):
    key = KeyFactory(account=simulated, owner_user=engineer, team=team, provider_key_id="simkey_e")
    sim_key(simulated, "simkey_e", created=datetime.now(UTC) - timedelta(days=5))
    run = usage_sync(account=simulated, since=datetime.now(UTC) - timedelta(days=3))
    assert run.rows == UsageBucket.objects.filter(key=key).count() > 0
    assert_rollups_match(simulated)
    assert DailyRollup.objects.filter(key=key).aggregate(t=Sum("cost_usd"))["t"] > 0
    quarter = Quarter.current()
    spent = DailyRollup.objects.filter(key=key, day__gte=quarter.start).aggregate(t=Sum("cost_usd"))["t"] or 0
    page = login(engineer).get(reverse("allocator:key_list"))
    assert f"{spent:.2f}".encode() in page.content  # the keys page reads the rollups


def test_a_re_pull_reports_no_usage_in_any_earlier_suspension(simulated):
    """Defect 18: suspended, reinstated, suspended again; a re-pull of the whole window must still skip the first
    suspension, not only the latest one."""
    sim_key(simulated, "simkey_twice", created=MONDAY, pattern="service")
    provider = simulated.adapter()
    for moment, action in ((9, provider.suspend_key), (14, provider.reinstate_key), (20, provider.suspend_key)):
        with time_machine.travel(MONDAY + timedelta(hours=moment), tick=False):
            action(provider_key_id="simkey_twice", provider_data={})

    with time_machine.travel(MONDAY + timedelta(days=1), tick=False):
        hours = requests_by_hour(pull(simulated, MONDAY, MONDAY + timedelta(days=1)))
    live = {h.hour for h, n in hours.items() if n}
    assert live == set(range(0, 9)) | set(range(14, 20))  # nothing 09–14 (first suspension), nothing from 20
