"""Usage syncs through real Celery worker processes, including one killed half way through a sync."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from allocator.models import ProviderKind, SyncRun, UsageBucket
from allocator.tasks import heartbeat, sync_account
from allocator.usage.models import STALE_AFTER
from allocator.usage.sync import usage_sync
from tests.conftest import _database_url_for_worker
from tests.factories import KeyFactory
from tests.usage_helpers import (
    assert_rollups_match,
    bucket_totals,
    emulator_account,
    hour,
    rollup_totals,
    stored_rollups,
)

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def own_worker(django_db_blocker):
    """A worker of our own on a queue of its own, so the test may kill it without hurting the shared one."""
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-kill-{os.getpid()}"
    log_path = Path(settings.RUN_DIR) / "worker-kill.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": _database_url_for_worker()}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "allocator", "worker", "--loglevel=INFO", "--pool=solo", "-Q",
             queue, "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", f"kill-{os.getpid()}@%h"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        ready = heartbeat.apply_async(queue=queue)
        wait_for(lambda: ready.ready() or process.poll() is not None, 60, "the worker to start")
        assert process.poll() is None, log_path.read_text()[-3000:]
        yield process, queue
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)


def seed(emulator) -> None:
    for h in range(2, 200, 7):  # two pages of completions
        emulator.add_usage(hour(h), api_key_id="key_a", model="gpt-4o-mini", project_id="p", input_tokens=5_000,
                           input_cached_tokens=1_000, output_tokens=700, num_model_requests=9)  # fmt: skip
    emulator.add_usage(hour(4), api_key_id="key_a", model="text-embedding-3-small", project_id="p",
                       kind="embeddings", input_tokens=90_000, num_model_requests=3)  # fmt: skip


def test_a_sync_runs_on_the_worker(celery_worker, openai_emulator, engineer, team):
    account = emulator_account(ProviderKind.OPENAI, openai_emulator)
    KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="key_a")
    seed(openai_emulator)
    run_id = sync_account.delay(account.pk, "manual", since=hour(210).isoformat()).get(timeout=60)
    run = SyncRun.objects.get(pk=run_id)
    assert run.status == SyncRun.Status.SUCCEEDED and run.rows == UsageBucket.objects.count() == 30


def test_a_worker_killed_half_way_leaves_a_run_the_next_sync_redoes(
    own_worker, celery_worker, openai_emulator, engineer, team
):
    process, queue = own_worker
    account = emulator_account(ProviderKind.OPENAI, openai_emulator, timeout=120)
    KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="key_a")
    seed(openai_emulator)
    # Completions come first (two pages, stored); the embeddings page hangs, and the worker dies waiting for it.
    openai_emulator.fail_next(1, delay=60, path_prefix="/organization/usage/embeddings")
    sync_account.apply_async(args=[account.pk, "manual"], kwargs={"since": hour(210).isoformat()}, queue=queue)
    wait_for(lambda: openai_emulator.requests_to("GET", "/organization/usage/embeddings"), what="the slow page")
    wait_for(lambda: SyncRun.objects.filter(pages=2).exists(), what="two stored pages")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=20)

    killed = SyncRun.objects.get()
    assert killed.status == SyncRun.Status.RUNNING and 0 < UsageBucket.objects.count() < 30
    # Ten minutes later the heartbeat is stale; the next sync (on the other worker) redoes the window.
    SyncRun.objects.filter(pk=killed.pk).update(heartbeat_at=killed.heartbeat_at - STALE_AFTER)
    openai_emulator.clear_faults()
    run_id = sync_account.delay(account.pk, "beat", since=hour(210).isoformat()).get(timeout=60)

    killed.refresh_from_db()
    assert killed.status == SyncRun.Status.FAILED and "stopped" in killed.error and "took over" in killed.error
    assert SyncRun.objects.get(pk=run_id).status == SyncRun.Status.SUCCEEDED

    # A clean sync of the same provider data into a second account: identical totals and rollups.
    clean = emulator_account(ProviderKind.OPENAI, openai_emulator, name="Clean")
    KeyFactory(account=clean, owner_user=engineer, team=team, provider_key_id="key_a")
    usage_sync(account=clean, since=hour(210), enforce=False)
    assert bucket_totals(account) == bucket_totals(clean)
    assert rollup_totals(account) == rollup_totals(clean)
    assert len(stored_rollups(account)) == len(stored_rollups(clean))
    assert_rollups_match(account)
