"""Cursor usage synced from the loopback emulator through the usage sync: a month, pulled every few days within the
week Cursor keeps, lands per person exactly as served; re-syncs replace; unmatched members are kept; a sync after
the window closed records the lost days and alerts once; 429 / 5xx / malformed / rejected keys as for providers."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum

from allocator.coding.models import CodingIdentity, CodingUsage
from allocator.models import DailyRollup, ProviderAccount, ProviderKind, SyncRun, UsageGap
from allocator.provider_accounts import account_test_connection
from allocator.providers.base import ProviderError
from allocator.usage.sync import usage_sync
from budgets.history_gaps import history_gap_alerts
from budgets.models import Alert
from tests.emulators.cursor import CursorEmulator
from tests.factories import MembershipFactory, UserFactory
from tests.usage_helpers import emulator_account

FIRST, LAST = date(2026, 10, 1), date(2026, 10, 31)
EMAILS = ["Erin@Example.com", "sam@example.com", "contractor@agency.test"]


@pytest.fixture
def people(team):
    erin = UserFactory(email="erin@example.com", full_name="Erin Example")
    sam = UserFactory(email="sam@example.com", full_name="Sam Example")  # Cursor names them as typed: Erin@Example.com
    for person in (erin, sam):
        MembershipFactory(user=person, team=team)
    return erin, sam


@pytest.fixture
def cursor(db, cursor_emulator: CursorEmulator) -> ProviderAccount:
    cursor_emulator.seed_days(EMAILS, FIRST, LAST)
    return emulator_account(ProviderKind.CURSOR, cursor_emulator)


def _sync_at(account, emulator, moment: datetime) -> SyncRun:
    emulator.now = moment
    with time_machine.travel(moment, tick=False):
        return usage_sync(account=account)


def _served(emulator: CursorEmulator) -> dict[tuple[str, date], dict]:
    """What the emulator serves per (email, day): cost to the micro-dollar, tokens, requests, lines."""
    served: dict[tuple[str, date], dict] = defaultdict(lambda: defaultdict(Decimal))
    for event in emulator.events:
        day = datetime.fromtimestamp(int(event["timestamp"]) / 1000, tz=UTC).date()
        found, tokens = served[(event["userEmail"], day)], event.get("tokenUsage") or {}
        found["cents"] += Decimal(str(tokens.get("totalCents", 0)))
        found["output_tokens"] += tokens.get("outputTokens", 0)
        found["input_tokens"] += sum(tokens.get(k, 0) for k in ("inputTokens", "cacheReadTokens", "cacheWriteTokens"))
        found["requests"] += 1
    for (email, day), row in emulator.days.items():
        served[(email, day)]["lines_added"] += row["totalLinesAdded"]
        served[(email, day)]["accepted"] += row["totalAccepts"] + row["totalTabsAccepted"]
    return served


def _stored(email: str, day: date) -> dict:
    rows = CodingUsage.objects.filter(identity__external_id=email, day=day)
    return rows.aggregate(cost=Sum("cost_usd"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"),
                          requests=Sum("requests"), lines_added=Sum("lines_added"),
                          accepted=Sum("accepted_suggestions"))  # fmt: skip


def test_a_month_synced_within_the_window_lands_per_person_as_served(cursor, cursor_emulator, people):
    erin, _ = people
    moments = [datetime(2026, 10, 1, 6, tzinfo=UTC) + timedelta(days=3 * n) for n in range(11)]
    for moment in [*moments, datetime(2026, 11, 1, 6, tzinfo=UTC)]:
        assert _sync_at(cursor, cursor_emulator, moment).status == SyncRun.Status.SUCCEEDED
    assert not UsageGap.objects.exists()

    served = _served(cursor_emulator)
    for (email, day), want in served.items():
        got = _stored(email.lower(), day)
        cost = (want["cents"] / 100).quantize(Decimal("0.000001"))
        assert abs((got["cost"] or 0) - cost) <= Decimal("0.000003"), (email, day)  # per-model micro-dollar rounding
        assert (got["input_tokens"] or 0, got["output_tokens"] or 0) == (want["input_tokens"], want["output_tokens"])
        assert (got["requests"] or 0, got["lines_added"], got["accepted"]) == (
            want["requests"], want["lines_added"], want["accepted"],
        ), (email, day)  # fmt: skip
    # People are matched by email (Cursor's Erin@… included); the contractor is kept for an admin to map.
    assert CodingIdentity.objects.get(external_id="sam@example.com").user is not None
    assert CodingIdentity.objects.get(external_id="contractor@agency.test").user is None
    erin_cost = CodingUsage.objects.filter(user=erin).aggregate(total=Sum("cost_usd"))["total"]
    assert DailyRollup.objects.filter(account=cursor, owner_user=erin).aggregate(t=Sum("cost_usd"))["t"] == erin_cost


def test_a_resync_replaces_and_never_adds(cursor, cursor_emulator, people):
    moment = datetime(2026, 10, 20, 6, tzinfo=UTC)
    _sync_at(cursor, cursor_emulator, moment)
    rows, cost = CodingUsage.objects.count(), CodingUsage.objects.aggregate(t=Sum("cost_usd"))["t"]
    _sync_at(cursor, cursor_emulator, moment + timedelta(minutes=15))
    assert CodingUsage.objects.count() == rows and CodingUsage.objects.aggregate(t=Sum("cost_usd"))["t"] == cost

    day = date(2026, 10, 19)  # Cursor corrects a recent day: the stored day becomes what it serves now
    cursor_emulator.events = [e for e in cursor_emulator.events if not e["userEmail"].startswith("Erin")
                              or datetime.fromtimestamp(int(e["timestamp"]) / 1000, tz=UTC).date() != day]
    cursor_emulator.add_event("Erin@Example.com", datetime(2026, 10, 19, 12, tzinfo=UTC), model="gpt-5",
                              input_tokens=10, output_tokens=5, cents=12.5)  # fmt: skip
    _sync_at(cursor, cursor_emulator, moment + timedelta(minutes=30))
    erin_day = CodingUsage.objects.filter(identity__external_id="erin@example.com", day=day).exclude(model="")
    assert [(r.model, r.cost_usd, r.requests) for r in erin_day] == [("gpt-5", Decimal("0.125000"), 1)]


def test_a_sync_after_the_window_closed_records_the_lost_days_and_alerts_once(cursor, cursor_emulator, admin):
    _sync_at(cursor, cursor_emulator, datetime(2026, 10, 5, 6, tzinfo=UTC))
    _sync_at(cursor, cursor_emulator, datetime(2026, 10, 18, 6, tzinfo=UTC))  # workers were down for 13 days
    gap = UsageGap.objects.get(account=cursor)
    assert (gap.lost_from, gap.lost_until) == (datetime(2026, 10, 5, 6, tzinfo=UTC), datetime(2026, 10, 11, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 10, 18, 7, tzinfo=UTC), tick=False):
        assert len(history_gap_alerts()) == 1 and history_gap_alerts() == []
    (alert,) = Alert.objects.filter(kind=Alert.Kind.HISTORY_GAP)
    assert "usage of 2026-10-05 to 2026-10-10 can no longer be pulled" in alert.message
    assert not CodingUsage.objects.filter(day=date(2026, 10, 8)).exists()  # those days really are gone
    assert CodingUsage.objects.filter(day=date(2026, 10, 11)).exists()


def test_a_429_is_waited_out_and_the_sync_succeeds(cursor, cursor_emulator):
    cursor_emulator.fail_next(status=429, retry_after=0.01, path_prefix="/teams/daily-usage-data")
    assert _sync_at(cursor, cursor_emulator, datetime(2026, 10, 20, 6, tzinfo=UTC)).status == SyncRun.Status.SUCCEEDED


def test_a_5xx_fails_the_run_and_keeps_the_days_before_it(cursor, cursor_emulator):
    moment = datetime(2026, 10, 20, 6, tzinfo=UTC)
    cursor_emulator.now = moment
    calls = {"n": 0}
    original = cursor_emulator._usage_events

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 3:  # the calls after the third day's events fail
            cursor_emulator.fail_next(5, status=502)
        return original(request)

    cursor_emulator.override("POST", r"/teams/filtered-usage-events", flaky)
    with time_machine.travel(moment, tick=False), pytest.raises(ProviderError, match="502"):
        usage_sync(account=cursor)
    run = SyncRun.objects.get(account=cursor)
    assert run.status == SyncRun.Status.FAILED and "502" in run.error
    stored = sorted(set(CodingUsage.objects.values_list("day", flat=True)))
    assert stored == [date(2026, 10, 13) + timedelta(n) for n in range(3)]


def test_a_malformed_page_fails_the_run_with_a_clear_error(cursor, cursor_emulator):
    cursor_emulator.fail_next(malformed=True, path_prefix="/teams/filtered-usage-events")
    with pytest.raises(ProviderError, match="malformed"):
        _sync_at(cursor, cursor_emulator, datetime(2026, 10, 20, 6, tzinfo=UTC))
    assert SyncRun.objects.get(account=cursor).status == SyncRun.Status.FAILED


def test_rejected_keys_mark_the_account(cursor, cursor_emulator, admin):
    cursor.credential = "key_revoked_by_an_admin_0000"
    cursor.save()
    ok, message = account_test_connection(account=cursor, by=admin)
    cursor.refresh_from_db()
    assert not ok and cursor.status == ProviderAccount.Status.CREDENTIALS_INVALID and "Invalid API key" in message
    assert "key_revoked" not in message
    with pytest.raises(ProviderError):
        _sync_at(cursor, cursor_emulator, datetime(2026, 10, 20, 6, tzinfo=UTC))
    cursor.refresh_from_db()
    assert cursor.status == ProviderAccount.Status.CREDENTIALS_INVALID
    cursor.credential = cursor_emulator.credential
    cursor.save()
    assert account_test_connection(account=cursor, by=admin) == (True, "Connected: 3 team members")


def test_demo_cursor_usage_is_stored_through_the_real_store_once(db, team):
    for n in range(3):
        MembershipFactory(user=UserFactory(email=f"dev{n}@example.com"), team=team)
    with time_machine.travel(datetime(2026, 11, 18, 12, tzinfo=UTC), tick=False):
        call_command("seed_demo_cursor", stdout=StringIO())
        rows = CodingUsage.objects.count()
        call_command("seed_demo_cursor", stdout=StringIO())
    account = ProviderAccount.objects.get(name="Cursor (demo)")
    assert rows and CodingUsage.objects.count() == rows and not account.enabled
    assert set(CodingUsage.objects.values_list("identity__external_id", flat=True)) == {"dev1@example.com"}
    spent = CodingUsage.objects.aggregate(t=Sum("cost_usd"))["t"]
    assert spent > 0 and DailyRollup.objects.filter(account=account).aggregate(t=Sum("cost_usd"))["t"] == spent
