"""Storing coding-tool days: replace-not-add, matching by email, unmatched kept and mapped, API-key use not counted."""

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum

from allocator.coding.models import CodingIdentity, CodingSeat, CodingUsage
from allocator.coding.store import coding_day_store, coding_identity_map, coding_seats_store
from allocator.models import DailyRollup
from allocator.providers.coding import API_KEY, CodingUsageRow, SeatRow
from tests.factories import ProviderAccountFactory

DAY = date(2026, 11, 10)


@pytest.fixture
def claude_code(db):
    return ProviderAccountFactory(kind="claude_code", name="Claude Code", credential="sk-ant-admin-x")


def _row(identity: str, model: str, cost: str, **extra) -> CodingUsageRow:
    return CodingUsageRow(day=DAY, identity=identity, email=identity, model=model, cost_usd=Decimal(cost), **extra)


def _rollup_cost(**filters) -> Decimal:
    return DailyRollup.objects.filter(**filters).aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")


def test_a_resync_of_a_day_replaces_it(claude_code, engineer):
    coding_day_store(
        account=claude_code, day=DAY, rows=[_row(engineer.email, "claude-sonnet-4", "1.50", input_tokens=10)]
    )
    coding_day_store(
        account=claude_code, day=DAY, rows=[_row(engineer.email, "claude-sonnet-4", "2.25", input_tokens=20)]
    )
    usage = CodingUsage.objects.get()
    assert (usage.user, usage.cost_usd, usage.input_tokens) == (engineer, Decimal("2.25"), 20)
    assert _rollup_cost(account=claude_code, owner_user=engineer) == Decimal("2.25")
    coding_day_store(account=claude_code, day=DAY, rows=[])
    assert not CodingUsage.objects.exists() and not DailyRollup.objects.exists()


def test_api_key_use_is_stored_but_not_counted(claude_code, engineer):
    coding_day_store(
        account=claude_code,
        day=DAY,
        rows=[
            _row(engineer.email, "claude-sonnet-4", "3.00", customer_type="api", counted_via_key=True),
            CodingUsageRow(day=DAY, identity="ci-key", identity_kind=API_KEY, model="claude-sonnet-4",
                           cost_usd=Decimal("4.00"), customer_type="api", counted_via_key=True),
            _row(engineer.email, "claude-opus-4", "1.00", customer_type="subscription"),
        ],
    )  # fmt: skip
    assert CodingUsage.objects.count() == 3
    assert _rollup_cost(account=claude_code) == Decimal("1.00")


def test_unmatched_identity_is_kept_and_mapping_moves_its_spend(claude_code, engineer, admin):
    coding_day_store(account=claude_code, day=DAY, rows=[_row("erin@elsewhere.test", "claude-sonnet-4", "5.00")])
    identity = CodingIdentity.objects.get()
    assert identity.user is None
    assert _rollup_cost(account=claude_code, owner_user__isnull=True) == Decimal("5.00")
    coding_identity_map(identity=identity, user=engineer, by=admin)
    assert CodingUsage.objects.get().user == engineer
    assert _rollup_cost(account=claude_code, owner_user=engineer) == Decimal("5.00")
    assert DailyRollup.objects.get().team_id == engineer.memberships.first().team_id


def test_seats_are_booked_on_the_month_apart_from_usage(db, engineer):
    copilot = ProviderAccountFactory(kind="copilot", name="Copilot", credential="ghp_x")
    coding_seats_store(account=copilot, month=DAY, seats=[SeatRow(identity="erin", email=engineer.email)],
                       price_usd=Decimal("19.00"))  # fmt: skip
    seat = CodingSeat.objects.get()
    assert (seat.month, seat.cost_usd, seat.user) == (date(2026, 11, 1), Decimal("19.00"), engineer)
    assert DailyRollup.objects.get().model == "seat"


def test_show_only_accounts_count_nothing(claude_code, engineer):
    claude_code.options = {"budget_policy": "show"}
    claude_code.save()
    coding_day_store(account=claude_code, day=DAY, rows=[_row(engineer.email, "claude-sonnet-4", "1.50")])
    assert CodingUsage.objects.count() == 1 and not DailyRollup.objects.exists()


def test_people_are_matched_by_email_whatever_its_case(claude_code, engineer):
    engineer.email = "Sam.Rivera@Example.com"
    engineer.save(update_fields=["email"])
    coding_day_store(account=claude_code, day=DAY, rows=[_row("sam.rivera@example.COM", "claude-sonnet-4", "1.50")])
    assert CodingUsage.objects.get().user == engineer
