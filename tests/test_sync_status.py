"""The sync status page: per-account health, errors, unknown models, billed vs estimate, runs, and "Sync now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.models import BilledCost, ProviderAccount, SimulatedKey, SyncRun
from allocator.usage.sync import usage_sync
from tests.conftest import login
from tests.factories import KeyFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def synced(simulated, engineer, team):
    KeyFactory(account=simulated, owner_user=engineer, team=team, provider_key_id="simkey_s")
    SimulatedKey.objects.create(account_id=simulated.pk, key_id="simkey_s", name="s", hint="s",
                                created_at=datetime.now(UTC) - timedelta(days=4))  # fmt: skip
    usage_sync(account=simulated, since=datetime.now(UTC) - timedelta(days=2), enforce=False)
    return simulated


@pytest.fixture
def failing(db):
    account = ProviderAccount.objects.create(name="OpenAI prod", kind="openai", synced_until=datetime.now(UTC))
    now = datetime.now(UTC)
    SyncRun.objects.create(account=account, window_start=now - timedelta(days=2), window_end=now, status="succeeded",
                           rows=10, pages=1, finished_at=now - timedelta(minutes=30),
                           unknown_models=["acme-private-7b"])  # fmt: skip
    SyncRun.objects.create(account=account, window_start=now - timedelta(days=2), window_end=now, status="failed",
                           error="OpenAI answered 502 to GET /organization/usage/completions: Bad gateway",
                           finished_at=now)  # fmt: skip
    today = now.date()
    BilledCost.objects.create(account=account, day=today - timedelta(days=1), dims="project_id=p",
                              billed_usd=Decimal("125.00"), estimated_usd=Decimal("100.00"))  # fmt: skip
    return account


def test_the_page_shows_health_errors_unknown_models_and_billed_deltas(synced, failing, admin, finance):
    page = login(admin).get(reverse("allocator:sync_status")).content.decode()
    assert "Up to date" in page and "Failing" in page
    assert "Last run failed: OpenAI answered 502" in page
    assert "acme-private-7b" in page
    assert reverse("admin:allocator_modelprice_add") + "?provider=openai&amp;model=acme-private-7b" in page
    assert "+$25.00 (+25.0&nbsp;%)" in page  # billed vs our estimate
    assert f"{SyncRun.objects.filter(account=synced).get().rows:,} rows" in page
    assert "Sync now" in page

    as_finance = login(finance).get(reverse("allocator:sync_status")).content.decode()
    assert "acme-private-7b" in as_finance and "set price" not in as_finance  # only admins reach the admin


def test_sync_now_queues_a_sync_and_the_row_follows_it(synced, admin, eager_celery, django_capture_on_commit_callbacks):
    browser = login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(reverse("allocator:sync_now", args=[synced.pk]), headers=HTMX)
    row = response.content.decode()
    assert row.strip().startswith(f'<tr id="sync-row-{synced.pk}"')  # the row partial, not the page
    assert 'hx-trigger="every 2s"' in row and "Queued" in row
    assert AuditEvent.objects.filter(action="usage.sync_requested").exists()
    manual = SyncRun.objects.get(trigger="manual")
    assert manual.status == SyncRun.Status.SUCCEEDED  # the (eager) worker ran it

    status_url = reverse("allocator:sync_account_status", args=[synced.pk])
    after = (manual.started_at - timedelta(seconds=1)).isoformat()
    done = browser.get(status_url, {"after": after}, headers=HTMX).content.decode()
    assert f"Synced {manual.rows:,} rows" in done and "every 2s" not in done


def test_the_row_shows_a_running_sync_and_gives_up_on_a_missing_worker(synced, finance):
    browser = login(finance)
    url = reverse("allocator:sync_account_status", args=[synced.pk])
    now = datetime.now(UTC)
    run = SyncRun.objects.create(account=synced, window_start=now, window_end=now, pages=3, rows=4321)
    running = browser.get(url, {"after": now.isoformat()}, headers=HTMX).content.decode()
    assert "Syncing · page 3 · 4,321 rows" in running and "every 2s" in running

    run.status = SyncRun.Status.FAILED
    run.save()
    SyncRun.objects.update(finished_at=now - timedelta(minutes=20))  # nothing finished since the click
    stuck = browser.get(url, {"after": (now - timedelta(minutes=11)).isoformat()}, headers=HTMX).content.decode()
    assert "No worker took the sync" in stuck and "every 2s" not in stuck


def test_only_finance_and_admins_can_sync(synced, engineer, manager):
    for person in (engineer, manager):
        assert login(person).post(reverse("allocator:sync_now", args=[synced.pk])).status_code == 403
    assert not SyncRun.objects.filter(trigger="manual").exists()


def test_without_htmx_sync_now_redirects_with_a_message(synced, admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = login(admin).post(reverse("allocator:sync_now", args=[synced.pk]), follow=True)
    assert len(callbacks) == 1 and b"queued" in response.content


def test_page_queries_do_not_grow_with_accounts_and_runs(admin):
    def count_queries(accounts: int, runs: int) -> int:
        now = datetime.now(UTC)
        for n in range(accounts):
            account = ProviderAccount.objects.create(name=f"acct {accounts}-{n}", kind="simulated")
            for r in range(runs):
                SyncRun.objects.create(account=account, window_start=now, window_end=now, status="succeeded",
                                       finished_at=now, unknown_models=[f"m{r}"])  # fmt: skip
            BilledCost.objects.create(account=account, day=now.date(), billed_usd=1, estimated_usd=1)
        browser = login(admin)
        with CaptureQueriesContext(connection) as queries:
            assert browser.get(reverse("allocator:sync_status")).status_code == 200
        return len(queries)

    count_queries(1, 1)  # warm-up: the policy row is created on first use
    assert count_queries(2, 2) == count_queries(12, 6)


def test_the_page_states_the_real_beat_schedule_and_only_pages_that_exist(synced, admin, settings):
    """Defect 20: the page said "every 15 minutes" while beat syncs the simulated provider every 2, and it named
    leaderboards and chargeback, which do not exist."""
    page = login(admin).get(reverse("allocator:sync_status")).content.decode()
    assert "every 15 minutes (simulated accounts: every 2 minutes)" in page
    content = page.split('<main class="content">', 1)[1].lower()  # the menu links to the leaderboards now
    assert "leaderboard" not in content and "chargeback" not in content

    settings.CELERY_BEAT_SCHEDULE = {
        "sync-all-accounts": {"task": "allocator.tasks.sync_all_accounts", "schedule": 3600.0},
    }
    assert "account every 1 hour, re-reading" in login(admin).get(reverse("allocator:sync_status")).content.decode()
