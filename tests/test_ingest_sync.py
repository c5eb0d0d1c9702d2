"""The sync service itself: one sync per account, stale runs redone, fan-out and back-fill chunks, retention,
the enforcement hook, and rollups that always equal a recomputation from buckets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator.models import DailyRollup, Policy, ProviderAccount, ProviderKind, SyncRun, UsageBucket
from allocator.providers.base import Provider, UsageRow
from allocator.tasks import drop_old_usage, sync_all_accounts
from allocator.usage.models import STALE_AFTER
from allocator.usage.sync import LOCK_NAMESPACE, sync_window, usage_sync
from allocator.usage.writer import dims_text
from tests.factories import KeyFactory
from tests.usage_helpers import assert_rollups_match, bucket_totals, day_start, emulator_account, hour

BASE = datetime(2026, 10, 5, tzinfo=UTC)


class PagesProvider(Provider):
    """A stand-in provider (the outside world) that serves fixed pages of usage rows."""

    kind = "openai"

    def __init__(self, pages: list[list[UsageRow]]) -> None:
        super().__init__()
        self.pages = pages

    def pull_usage(self, *, start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
        for page in self.pages:
            yield [r for r in page if start <= r.bucket_start < end]

    def pull_cost(self, *, start, end):
        return iter(())


@pytest.fixture
def account(db):
    return ProviderAccount.objects.create(name="Pages", kind="openai", credential="x")


# --- one sync per account --------------------------------------------------------------------------------


@contextmanager
def another_worker_syncing(account):
    """PostgreSQL: another session holds the account's advisory lock, as a live sync does."""
    if connection.vendor != "postgresql":
        yield
        return
    import psycopg

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, account.pk])
        yield


@pytest.mark.django_db
def test_a_live_run_makes_a_second_sync_stand_back_and_a_stale_one_is_redone(account):
    now = datetime.now(UTC)
    live = SyncRun.objects.create(account=account, window_start=now, window_end=now, heartbeat_at=now)
    with another_worker_syncing(account):
        assert usage_sync(account=account, provider=PagesProvider([])) is None
    assert SyncRun.objects.count() == 1

    # The worker died: no lock any more (PostgreSQL), and no heartbeat for a while (everywhere).
    SyncRun.objects.filter(pk=live.pk).update(heartbeat_at=now - STALE_AFTER - timedelta(seconds=1))
    run = usage_sync(account=account, provider=PagesProvider([]))
    live.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert live.status == SyncRun.Status.FAILED and f"Sync #{run.pk} took over" in live.error


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_syncs_of_one_account_one_runs_one_stands_back(openai_emulator, engineer, team):
    account = emulator_account(ProviderKind.OPENAI, openai_emulator)
    KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="key_a")
    openai_emulator.add_usage(hour(2), api_key_id="key_a", model="gpt-4o-mini", input_tokens=10, num_model_requests=1)
    openai_emulator.fail_next(1, delay=1.5, path_prefix="/organization/usage/completions")  # the first sync is slow
    results = {}

    def first():
        try:
            results["first"] = usage_sync(account=account, since=hour(4), enforce=False)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists():
        assert datetime.now(UTC) < deadline
        time.sleep(0.02)
    second = usage_sync(account=account, since=hour(4), enforce=False)
    thread.join()

    assert second is None
    assert results["first"].status == SyncRun.Status.SUCCEEDED
    assert SyncRun.objects.count() == 1 and UsageBucket.objects.count() == 1


@pytest.mark.django_db
def test_only_a_successful_sync_enqueues_enforcement(account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        usage_sync(account=account, provider=PagesProvider([]))
    assert [c.__name__ for c in callbacks] == ["_enqueue_enforcement"]

    class Broken(PagesProvider):
        def pull_usage(self, *, start, end):
            raise RuntimeError("boom")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        usage_sync(account=account, provider=Broken([]))
    assert callbacks == []
    assert SyncRun.objects.filter(status="failed", error="RuntimeError: boom").exists()


# --- windows, fan-out and back-fill ------------------------------------------------------------------------


@pytest.mark.django_db
def test_windows_start_at_the_overlap_or_the_quarter(account):
    start, end = sync_window(account=account)
    assert start.date().day == 1 and start <= end  # first sync: from the start of the current quarter
    account.synced_until = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
    Policy.objects.update_or_create(pk=1, defaults={"sync_overlap_hours": 24})
    now = datetime(2026, 11, 22, 8, 15, tzinfo=UTC)
    assert sync_window(account=account, now=now) == (datetime(2026, 11, 19, tzinfo=UTC), now)


@pytest.mark.django_db
def test_beat_fans_out_per_account_and_chunks_long_windows(eager_celery, simulated, engineer, team):
    from allocator.models import SimulatedKey

    KeyFactory(account=simulated, owner_user=engineer, team=team, provider_key_id="simkey_x")
    SimulatedKey.objects.create(account_id=simulated.pk, key_id="simkey_x", name="x", hint="x",
                                created_at=datetime.now(UTC) - timedelta(days=30))  # fmt: skip
    simulated.synced_until = datetime.now(UTC) - timedelta(days=20)
    simulated.save()
    fresh = ProviderAccount.objects.create(name="Fresh sim", kind="simulated", synced_until=datetime.now(UTC))
    ProviderAccount.objects.create(name="Off", kind="simulated", enabled=False)
    ProviderAccount.objects.create(name="Locked out", kind="openai", status="credentials_invalid")

    assert sync_all_accounts.delay().get() == 2

    chunks = list(SyncRun.objects.filter(account=simulated).order_by("window_start"))
    assert len(chunks) == 4 and {c.trigger for c in chunks} == {"backfill"}
    assert all(a.window_end == b.window_start for a, b in zip(chunks, chunks[1:], strict=False))
    assert {c.status for c in chunks} == {"succeeded"}
    simulated.refresh_from_db()
    assert simulated.synced_until == chunks[-1].window_end
    assert SyncRun.objects.get(account=fresh).trigger == "beat"
    assert_rollups_match(simulated)

    runs = SyncRun.objects.count()
    assert sync_all_accounts.delay(kinds=["openai"]).get() == 0  # the simulated-only beat entry's opposite
    assert SyncRun.objects.count() == runs


# --- retention ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_old_buckets_are_dropped_and_rollups_stay(account):
    now = datetime.now(UTC)
    rows = [UsageRow(bucket_start=day_start(now) - timedelta(days=d), bucket_width="1d", provider_key_id=None,
                     model="gpt-4o-mini", input_tokens=1_000_000, requests=1) for d in (3, 200, 500)]  # fmt: skip
    usage_sync(account=account, since=now - timedelta(days=600), provider=PagesProvider([rows]))
    assert DailyRollup.objects.count() == 3

    assert drop_old_usage.apply().get() == 1  # 13 months by default: the 500-day-old bucket goes
    assert UsageBucket.objects.count() == 2 and DailyRollup.objects.count() == 3
    Policy.objects.update_or_create(pk=1, defaults={"usage_retention_months": 0})
    assert drop_old_usage.apply().get() == 0


# --- rollups are a recomputation, whatever the pulls -------------------------------------------------------

row_strategy = st.builds(
    UsageRow,
    bucket_start=st.integers(0, 71).map(lambda h: BASE + timedelta(hours=h)),
    bucket_width=st.just("1h"),
    provider_key_id=st.sampled_from(["key_a", "key_b", "key_old", "key_unknown", None]),
    model=st.sampled_from(["gpt-4o-mini", "gpt-4o", "mystery-model"]),
    input_tokens=st.integers(0, 5_000_000),
    cached_input_tokens=st.integers(0, 1_000),
    output_tokens=st.integers(0, 1_000_000),
    requests=st.one_of(st.none(), st.integers(0, 500)),
    dimensions=st.sampled_from([{}, {"project_id": "p1"}, {"project_id": "p2"}]),
)


def _identity(row: UsageRow) -> tuple:
    return row.bucket_start, row.provider_key_id or "", row.model, dims_text(row.dimensions)


# A pull never reports one bucket twice; pages are cut anywhere.
pull_strategy = st.tuples(st.lists(row_strategy, max_size=40, unique_by=_identity), st.integers(1, 15)).map(
    lambda rows_size: [rows_size[0][i : i + rows_size[1]] for i in range(0, len(rows_size[0]), rows_size[1])]
)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=pull_strategy, second=pull_strategy)
def test_rollups_equal_a_recomputation_after_any_two_pulls(account, engineer, manager, team, project, first, second):
    UsageBucket.objects.all().delete()
    DailyRollup.objects.all().delete()
    if not account.keys.exists():
        KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="key_a")
        KeyFactory(account=account, owner_user=None, owner_project=project, team=team, provider_key_id="key_b",
                   provider_data={"previous_key_ids": ["key_old"]})  # fmt: skip
    window = {"since": BASE, "until": BASE + timedelta(days=3), "enforce": False}

    usage_sync(account=account, provider=PagesProvider(first), **window)
    assert_rollups_match(account)

    usage_sync(account=account, provider=PagesProvider(second), **window)
    assert_rollups_match(account)
    # A re-pull replaces: what is stored is exactly the second pull.
    pulled = [r for page in second for r in page]
    assert bucket_totals(account)["output_tokens"] == (sum(r.output_tokens for r in pulled) if pulled else None)
    assert UsageBucket.objects.count() == len(pulled)
    assert all(b.cost_usd == b.estimated_cost_usd >= Decimal(0) for b in UsageBucket.objects.all())
