"""Usage history gaps: Cursor keeps about a week, so when the last complete sync ended before the oldest day it
still serves, the lost days are recorded once per gap, alerted once through the outbox (admins; finance's Slack)
and shown on the account page; a gap that stays open is still one alert, a new gap later is a new one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from allocator.models import ProviderKind, UsageGap
from allocator.usage.gaps import usage_gap_record
from budgets.alerts import alert_deliver, alert_recipients
from budgets.history_gaps import history_gap_alerts
from budgets.models import Alert
from budgets.tasks import history_gap_alerts as history_gap_task
from tests.conftest import login
from tests.usage_helpers import emulator_account

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def cursor(db, cursor_emulator):
    account = emulator_account(ProviderKind.CURSOR, cursor_emulator)
    account.synced_until = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)  # ten days ago: three days are gone
    account.last_sync_at = account.synced_until
    account.save()
    return account


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def test_a_gap_alerts_once_and_names_the_lost_days(cursor, admin, finance):
    (alert,) = history_gap_alerts()
    gap = UsageGap.objects.get(account=cursor)
    assert (gap.lost_from, gap.lost_until) == (cursor.synced_until, datetime(2026, 11, 13, tzinfo=UTC))
    assert alert.kind == Alert.Kind.HISTORY_GAP and alert.scope_key == f"account:{cursor.pk}"
    assert "usage of 2026-11-10 to 2026-11-12 can no longer be pulled" in alert.message
    assert "Cursor keeps 7 days" in alert.message
    assert history_gap_alerts() == []  # the next hourly check: same gap, no second alert
    history_gap_task()
    assert Alert.objects.filter(kind=Alert.Kind.HISTORY_GAP).count() == 1
    assert [u.email for u in alert_recipients(Alert.objects.get())] == ["admin@example.com"]


def test_an_open_gap_widens_but_stays_one_alert(cursor):
    history_gap_alerts()
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        history_gap_alerts()
    gap = UsageGap.objects.get()
    assert gap.lost_until == datetime(2026, 11, 15, tzinfo=UTC)
    assert Alert.objects.filter(kind=Alert.Kind.HISTORY_GAP).count() == 1


def test_a_new_gap_after_syncing_again_is_a_new_alert(cursor):
    history_gap_alerts()
    cursor.synced_until = NOW  # syncs resumed ...
    cursor.save()
    assert history_gap_alerts() == []
    with time_machine.travel(NOW + timedelta(days=9), tick=False):  # ... and stopped again
        assert len(history_gap_alerts()) == 1
    assert UsageGap.objects.count() == 2 and Alert.objects.filter(kind=Alert.Kind.HISTORY_GAP).count() == 2


def test_no_gap_while_synced_within_the_window_or_never_synced(cursor, simulated):
    cursor.synced_until = NOW - timedelta(days=6)
    cursor.save()
    simulated.synced_until = NOW - timedelta(days=300)  # keeps everything: never a gap
    simulated.save()
    assert usage_gap_record(account=cursor) is None and history_gap_alerts() == []
    cursor.synced_until = None
    cursor.save()
    assert history_gap_alerts() == [] and not UsageGap.objects.exists()


def test_two_checks_racing_record_one_gap_and_one_alert(cursor):
    first, second = usage_gap_record(account=cursor), usage_gap_record(account=cursor)
    assert first.pk == second.pk
    alerts = history_gap_alerts() + history_gap_alerts()
    assert len(alerts) == 1 and Alert.objects.filter(kind=Alert.Kind.HISTORY_GAP).count() == 1


def test_the_alert_is_delivered_to_the_admins(cursor, admin, finance):
    history_gap_alerts()
    alert = Alert.objects.get(kind=Alert.Kind.HISTORY_GAP)
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    assert admin.notifications.filter(text__contains="can no longer be pulled").exists()


def test_the_account_page_shows_the_gap(cursor, admin):
    history_gap_alerts()
    page = login(admin).get(reverse("allocator:account_detail", args=[cursor.pk])).content.decode()
    assert "Usage history lost" in page and "2026-11-10 – 2026-11-12" in page and "3 days" in page
