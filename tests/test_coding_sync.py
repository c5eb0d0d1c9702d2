"""Coding-tool usage synced from the loopback emulators: a month lands per person exactly as served, re-syncs
replace, API-key Claude Code use is never counted twice, unmatched people are kept; failures as for providers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from allocator.coding.models import CodingIdentity, CodingSeat, CodingUsage
from allocator.models import DailyRollup, ProviderAccount, SyncRun
from allocator.provider_accounts import account_test_connection
from allocator.providers.base import ProviderError
from allocator.tasks import sync_all_accounts
from allocator.usage.sync import usage_sync
from tests.factories import MembershipFactory, UserFactory
from tests.usage_helpers import emulator_account

OCTOBER = [date(2026, 10, 1) + timedelta(days=n) for n in range(31)]
SINCE, UNTIL = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
SONNET, HAIKU = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"


@pytest.fixture
def people(team):
    erin = UserFactory(email="erin@example.com", full_name="Erin Example")
    sam = UserFactory(email="sam@example.com", full_name="Sam Example")
    for person in (erin, sam):
        MembershipFactory(user=person, team=team)
    return erin, sam


def _served_month(emulator, *, scale: int = 1) -> None:
    for n, day in enumerate(OCTOBER):
        emulator.add_record(
            day, email="Erin@example.com", sessions=2, lines=(100 * scale, 10), commits=1, pull_requests=n % 2,
            accepted=3, models=[{"model": SONNET, "input": 1000 * scale, "output": 200, "cache_read": 50,
                                 "cache_creation": 5, "cents": 125 * scale}],
        )  # fmt: skip
        emulator.add_record(
            day, email="sam@example.com", customer_type="api", sessions=1, lines=(7, 0), commits=0,
            models=[{"model": HAIKU, "input": 400, "output": 40, "cents": 9}],
        )  # fmt: skip
        emulator.add_record(day, api_key_name="ci-bot", customer_type="api", models=[{"model": SONNET, "cents": 300}])
        emulator.add_record(day, email="contractor@agency.test", models=[{"model": HAIKU, "input": 10, "cents": 2}])


def _sum(queryset, field):
    return queryset.aggregate(total=Sum(field))["total"]


def test_a_month_of_claude_code_lands_per_person_as_served(claude_code_emulator, people):
    erin, sam = people
    account = emulator_account("claude_code", claude_code_emulator, page_size=3)
    _served_month(claude_code_emulator)
    run = usage_sync(account=account, since=SINCE, until=UNTIL)
    assert run.status == SyncRun.Status.SUCCEEDED
    pages = claude_code_emulator.requests_to("GET", "/v1/organizations/usage_report/claude_code")
    assert len(pages) == 31 * 2  # four records a day, three a page
    assert {r.query_value("starting_at") for r in pages} == {d.isoformat() for d in OCTOBER}

    mine = CodingUsage.objects.filter(user=erin)
    assert _sum(mine, "cost_usd") == Decimal("38.75")  # 31 × 125 cents
    assert (_sum(mine, "input_tokens"), _sum(mine, "cache_read_tokens"), _sum(mine, "output_tokens")) == (
        31000, 1550, 6200,
    )  # fmt: skip
    assert (_sum(mine, "lines_added"), _sum(mine, "commits"), _sum(mine, "pull_requests")) == (3100, 31, 15)
    assert (_sum(mine, "sessions"), _sum(mine, "accepted_suggestions")) == (62, 93)
    # Budgets see Erin's subscription use; Sam's and the CI key's API use is counted through their API keys.
    assert _sum(DailyRollup.objects.filter(account=account, owner_user=erin), "cost_usd") == Decimal("38.75")
    assert not DailyRollup.objects.filter(account=account, owner_user=sam).exists()
    assert _sum(CodingUsage.objects.filter(user=sam), "cost_usd") == Decimal("2.79")
    ci_key = CodingUsage.objects.filter(identity__external_id="ci-bot", counted_via_key=True).exclude(model="")
    assert ci_key.count() == 31
    # The contractor is nobody here: kept, listed, counted as unattributed until mapped.
    contractor = CodingIdentity.objects.get(external_id="contractor@agency.test")
    assert contractor.user is None and (contractor.first_seen, contractor.last_seen) == (OCTOBER[0], OCTOBER[-1])
    assert _sum(DailyRollup.objects.filter(account=account, owner_user=None), "cost_usd") == Decimal("0.62")


def test_a_resync_replaces_the_month(claude_code_emulator, people):
    erin, _ = people
    account = emulator_account("claude_code", claude_code_emulator)
    week = SINCE + timedelta(days=7)
    _served_month(claude_code_emulator)
    usage_sync(account=account, since=SINCE, until=week)
    claude_code_emulator.records.clear()
    _served_month(claude_code_emulator, scale=2)  # the tool corrected its figures
    usage_sync(account=account, since=SINCE, until=week)
    mine = CodingUsage.objects.filter(user=erin)
    assert (_sum(mine, "cost_usd"), _sum(mine, "lines_added")) == (Decimal("17.50"), 1400)
    assert _sum(DailyRollup.objects.filter(account=account, owner_user=erin), "cost_usd") == Decimal("17.50")
    assert CodingUsage.objects.count() == 7 * 8  # an outcome row and a model row per record, never doubled


def test_rate_limits_and_server_errors_are_retried(claude_code_emulator, people):
    account = emulator_account("claude_code", claude_code_emulator, retries=2)
    _served_month(claude_code_emulator)
    claude_code_emulator.fail_next(1, status=429, retry_after=0.01)
    claude_code_emulator.fail_next(1, status=503)
    run = usage_sync(account=account, since=SINCE, until=SINCE + timedelta(days=2))
    assert run.status == SyncRun.Status.SUCCEEDED
    assert [r.query_value("starting_at") for r in claude_code_emulator.requests][:3] == ["2026-10-01"] * 3
    assert CodingUsage.objects.filter(day=OCTOBER[0]).count() == 8


def test_a_malformed_day_fails_the_run_and_keeps_the_days_before(claude_code_emulator, people):
    account = emulator_account("claude_code", claude_code_emulator)
    _served_month(claude_code_emulator)
    claude_code_emulator.records[OCTOBER[2]][0]["actor"] = {"type": "user_actor"}  # no email_address
    with pytest.raises(ProviderError, match="malformed Claude Code usage"):
        usage_sync(account=account, since=SINCE, until=UNTIL)
    assert SyncRun.objects.get().status == SyncRun.Status.FAILED
    assert set(CodingUsage.objects.values_list("day", flat=True)) == set(OCTOBER[:2])


def test_rejected_credentials_are_marked(claude_code_emulator, admin):
    account = emulator_account("claude_code", claude_code_emulator)
    account.credential = "sk-ant-admin01-wrong"
    account.save()
    with pytest.raises(ProviderError):
        usage_sync(account=account, since=SINCE, until=SINCE + timedelta(days=1))
    account.refresh_from_db()
    assert account.status == ProviderAccount.Status.CREDENTIALS_INVALID
    assert admin.notifications.count() == 1
    ok, message = account_test_connection(account=account, by=admin)
    account.refresh_from_db()
    assert not ok and "401" in message and "wrong" not in message
    assert account.status == ProviderAccount.Status.CREDENTIALS_INVALID


def test_copilot_month_of_premium_requests_and_seats(copilot_emulator, people, admin):
    erin, _ = people
    account = emulator_account("copilot", copilot_emulator, organization="acme", seat_price_usd="19.00", page_size=1)
    copilot_emulator.add_seat("erin-gh", email="erin@example.com")
    copilot_emulator.add_seat("octocat")  # GitHub shows no email unless the organization's SAML gives one
    copilot_emulator.add_seat("idle", last_activity_at="2026-09-20T10:00:00Z")  # never asked about October
    for day in OCTOBER:
        copilot_emulator.add_usage(day, "erin-gh", "Claude Sonnet 4", gross=10, net_amount="0.40")
        copilot_emulator.add_usage(day, "erin-gh", "GPT-5", gross=5, net_amount="0")
    ok, message = account_test_connection(account=account, by=admin)
    assert ok and "3 Copilot seats" in message
    assert usage_sync(account=account, since=SINCE, until=UNTIL).status == SyncRun.Status.SUCCEEDED
    asked = copilot_emulator.requests_to("GET", "/organizations/acme/settings/billing/premium_request/usage")
    assert {(r.query_value("user"), r.query_value("day")) for r in asked} == {
        (login, str(day.day)) for login in ("erin-gh", "octocat") for day in OCTOBER
    }
    mine = CodingUsage.objects.filter(user=erin)
    assert (_sum(mine, "requests"), _sum(mine, "cost_usd")) == (31 * 15, Decimal("12.40"))
    assert _sum(DailyRollup.objects.filter(account=account, owner_user=erin), "cost_usd") == Decimal("12.40")
    assert not CodingSeat.objects.exists()  # October is past: today's seat list is not its seats

    usage_sync(account=account, since=datetime.now(UTC) - timedelta(hours=1))  # this month: seats, Link-paged
    assert len(copilot_emulator.requests_to("GET", "/orgs/acme/copilot/billing/seats")) >= 3
    seats = CodingSeat.objects.filter(account=account, month=datetime.now(UTC).date().replace(day=1))
    assert seats.count() == 3 and _sum(seats, "cost_usd") == Decimal("57.00")
    assert seats.get(user=erin).identity.matched_by == CodingIdentity.MatchedBy.EMAIL
    unmatched = CodingIdentity.objects.filter(account=account, user=None).values_list("external_id", flat=True)
    assert set(unmatched) == {"octocat", "idle"}
    assert _sum(DailyRollup.objects.filter(account=account, model="seat"), "cost_usd") == Decimal("57.00")


def test_beat_syncs_coding_accounts_through_the_task(eager_celery, claude_code_emulator, people):
    erin, _ = people
    account = emulator_account("claude_code", claude_code_emulator)
    account.synced_until = datetime.now(UTC) - timedelta(hours=1)
    account.save()
    today = datetime.now(UTC).date()
    claude_code_emulator.add_record(today, email=erin.email, models=[{"model": SONNET, "cents": 250}])
    assert sync_all_accounts.delay(kinds=["claude_code"]).get() == 1
    assert SyncRun.objects.get(account=account).status == SyncRun.Status.SUCCEEDED
    assert _sum(CodingUsage.objects.filter(user=erin, day=today), "cost_usd") == Decimal("2.50")


def test_copilot_malformed_seat_list_fails_the_run_with_a_clear_error(copilot_emulator, people):
    account = emulator_account("copilot", copilot_emulator, organization="acme", seat_price_usd="19.00")
    copilot_emulator.add_seat("erin-gh", email="erin@example.com")
    copilot_emulator.fail_next(1, malformed=True, path_prefix="/orgs/acme/copilot")
    with pytest.raises(ProviderError, match="malformed"):
        usage_sync(account=account, since=datetime.now(UTC) - timedelta(hours=1))
    run = SyncRun.objects.get(account=account)
    assert run.status == SyncRun.Status.FAILED and "malformed" in run.error
    assert not CodingSeat.objects.exists()
    assert usage_sync(account=account, since=datetime.now(UTC) - timedelta(hours=1)).status == SyncRun.Status.SUCCEEDED
    assert CodingSeat.objects.get().cost_usd == Decimal("19.00")
