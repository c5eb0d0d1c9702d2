"""Many workers, one truth: two real Celery worker processes on Redis sync and enforce a dozen provider accounts
(loopback emulators that answer 429, 5xx, timeouts and cut-off pages along the way) while beat's schedule fires
twice; a third worker is killed in the middle of a sync and the next beat tick finishes its work.
Totals equal a clean run, every crossing raises one alert delivered once, and no key is minted twice."""

from __future__ import annotations

import signal
from contextlib import ExitStack
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from allocator.celery import app as celery_app
from allocator.models import Key, KeyRequest, ProviderKind, SyncRun
from allocator.usage.models import STALE_AFTER
from allocator.usage.sync import usage_sync
from budgets.models import Alert
from tests.budget_factories import team_budget, user_budget
from tests.emulators.slack import SlackEmulator
from tests.factories import KeyRequestFactory
from tests.fleet import EMULATORS, USAGE_KINDS, USAGE_PATHS, Seeded, clean_twin, fleet_account, pass_through, since
from tests.usage_helpers import assert_rollups_match, bucket_totals, rollup_totals
from tests.worker_processes import start_workers, wait_for, wait_until_idle

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs Redis as the broker"),
]

QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-fleet"
ACCOUNTS_PER_KIND = 4
RECENT = range(2, 60, 3)  # usage over the last two and a half days: inside the window of a sync 12 hours late


@pytest.fixture(scope="module")
def fleet_workers(django_db_setup, django_db_blocker):
    workers = start_workers(["fleet-a", "fleet-b"], QUEUE)
    yield workers
    for worker in workers:
        worker.stop()


@pytest.fixture
def emulators():
    with ExitStack() as stack:
        yield lambda kind: stack.enter_context(EMULATORS[kind]())


def beat_tick() -> None:
    """Send every entry of beat's schedule, as beat does when they fall due."""
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        celery_app.send_task(entry["task"], args=entry.get("args", ()), kwargs=entry.get("kwargs", {}), queue=QUEUE)


def faulty_fleet(emulators, engineer, team) -> list[Seeded]:
    """Twelve accounts, each on its own emulator, synced last a day ago; every usage path misbehaves once per
    kind of fault the adapter absorbs (a 429 with Retry-After, a 503, a timeout, a page cut off half way)."""
    fleet = []
    for kind in USAGE_KINDS:
        for n in range(ACCOUNTS_PER_KIND):
            seeded = fleet_account(kind, emulators(kind), name=f"{kind} {n}", owner=engineer, team=team, scale=n + 1,
                                   hours=RECENT, timeout=0.5, retries=2)  # fmt: skip
            seeded.account.synced_until = timezone.now() - timedelta(hours=12)  # a window of about three days
            seeded.account.save(update_fields=["synced_until"])
            path = USAGE_PATHS[kind]
            seeded.emulator.fail_next(1, status=429, retry_after=0.05, path_prefix=path)
            seeded.emulator.fail_next(1, status=503, path_prefix=path)
            pass_through(seeded.emulator, path_prefix=path)
            seeded.emulator.fail_next(1, delay=1.0, path_prefix=path)
            seeded.emulator.fail_next(1, truncated=True, path_prefix=path)
            fleet.append(seeded)
    return fleet


def approved_unminted(fleet: list[Seeded], engineer, team) -> list[KeyRequest]:
    """Approved requests on the OpenRouter accounts whose mint was never sent (the sweeper's work)."""
    requests = [
        KeyRequestFactory(
            requester=engineer,
            account=seeded.account,
            team=team,
            state=KeyRequest.State.APPROVED,
            allowance_usd=Decimal("50"),
        )  # fmt: skip
        for seeded in fleet
        if seeded.kind == ProviderKind.OPENROUTER
    ]
    KeyRequest.objects.update(updated_at=timezone.now() - timedelta(minutes=10))
    return requests


def assert_totals_of_a_clean_run(fleet: list[Seeded]) -> None:
    for seeded in fleet:
        seeded.emulator.clear_faults()
        clean = clean_twin(seeded)
        usage_sync(account=clean, since=since(), enforce=False)
        assert bucket_totals(seeded.account) == bucket_totals(clean), seeded.account.name
        assert rollup_totals(seeded.account) == rollup_totals(clean), seeded.account.name
        assert_rollups_match(seeded.account)


def test_two_workers_and_beat_twice_give_one_truth(fleet_workers, emulators, engineer, manager, team, policy):
    fleet = faulty_fleet(emulators, engineer, team)
    requests = approved_unminted(fleet, engineer, team)
    user_budget(engineer, team, "0.50", hard=False)
    team_budget(team, "1.00", hard=False)
    with SlackEmulator() as slack:
        team.slack_webhook_url = slack.webhook_url
        team.save()
        for key_request in requests:  # the approval's own send, besides the sweeper's
            celery_app.send_task("allocator.tasks.mint_key", args=[key_request.pk], queue=QUEUE)
        beat_tick()
        beat_tick()  # beat fires again (a second beat, or the next tick before the first one's work is done)
        wait_until_idle(fleet_workers)
        payloads = list(slack.payloads)

    assert not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()
    for seeded in fleet:
        runs = SyncRun.objects.filter(account=seeded.account)
        assert runs.filter(status=SyncRun.Status.SUCCEEDED).exists(), list(runs.values("status", "error"))
        assert not seeded.emulator.errors
        assert seeded.emulator.faults_left() == 0, seeded.account.name  # every fault was met, and absorbed
    assert_totals_of_a_clean_run(fleet)

    for key_request in requests:
        key_request.refresh_from_db()
        assert key_request.state == KeyRequest.State.MINTED
        assert Key.objects.filter(request=key_request).count() == 1
        minted = [seeded for seeded in fleet if seeded.account == key_request.account][0]
        assert len(minted.emulator.requests_to("POST", "/keys")) == 1

    crossings = list(Alert.objects.values_list("kind", "scope_key", "threshold", "dedupe"))
    assert len(crossings) == len(set(crossings))
    assert {(scope, threshold) for _, scope, threshold, _ in crossings} >= {
        (f"user:{engineer.pk}", 100),
        (f"team:{team.pk}", 100),
    }
    sent = Alert.objects.filter(channel__contains="slack")
    assert sent.exists() and len(payloads) == sent.count()  # each alert reached Slack once
    assert len({payload["text"] for payload in payloads}) == len(payloads)


def test_a_worker_killed_mid_sync_is_finished_by_the_next_beat(fleet_workers, emulators, engineer, team, policy):
    (victim,) = start_workers(["victim"], f"{QUEUE}-victim")
    try:
        seeded = fleet_account(ProviderKind.OPENAI, emulators(ProviderKind.OPENAI), name="Killed", owner=engineer,
                               team=team, hours=RECENT, timeout=120)  # fmt: skip
        seeded.account.synced_until = timezone.now() - timedelta(hours=12)
        seeded.account.save(update_fields=["synced_until"])
        # The first report page is stored; the next hangs, and the worker dies waiting for it.
        pass_through(seeded.emulator, path_prefix=USAGE_PATHS[ProviderKind.OPENAI])
        seeded.emulator.fail_next(1, delay=60, path_prefix=USAGE_PATHS[ProviderKind.OPENAI])
        celery_app.send_task("allocator.tasks.sync_account", args=[seeded.account.pk, "beat"], queue=victim.queue)
        wait_for(lambda: SyncRun.objects.filter(account=seeded.account, pages=1).exists(), what="a stored page")
        wait_for(lambda: len(seeded.emulator.requests_to("GET")) >= 2, what="the hanging page")
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=20)
    finally:
        victim.stop()
    killed = SyncRun.objects.get(account=seeded.account)
    assert killed.status == SyncRun.Status.RUNNING

    seeded.emulator.clear_faults()
    if connection.vendor != "postgresql":  # only the heartbeat tells a dead worker there: ten minutes later
        SyncRun.objects.filter(pk=killed.pk).update(heartbeat_at=killed.heartbeat_at - STALE_AFTER)
    beat_tick()  # the next tick (on PostgreSQL minutes later: the dead worker's lock went with its session)
    wait_until_idle(fleet_workers)

    killed.refresh_from_db()
    assert killed.status == SyncRun.Status.FAILED and "took over" in killed.error
    latest = SyncRun.objects.filter(account=seeded.account).latest("pk")
    assert latest.status == SyncRun.Status.SUCCEEDED
    assert_totals_of_a_clean_run([seeded])
