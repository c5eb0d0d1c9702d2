"""The person page's efficiency figures leave coding-tool seats out: a seat (rollup model "seat", booked on the 1st
of its month) is a fixed price, so it is neither large-tier spend nor makes the 1st an active day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from allocator.coding.store import coding_seats_store
from allocator.models import DailyRollup, ProviderAccount
from allocator.providers.coding import SeatRow
from tests.budget_factories import MID_QUARTER, pinned_clock, simulated_key, spend
from tests.conftest import login


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


def test_seats_are_not_large_tier_spend_nor_an_active_day(simulated, engineer, manager, team):
    month = MID_QUARTER.date().replace(day=1)
    spend(simulated_key(simulated, owner_user=engineer, team=team), "3.00", day=date(month.year, month.month, 10),
          model="gpt-4o-mini", requests=30, tokens=(3000, 0, 0, 300))  # fmt: skip
    copilot = ProviderAccount.objects.create(name="Copilot", kind="copilot", options={"organization": "acme"})
    coding_seats_store(account=copilot, month=month, seats=[SeatRow(identity="erin-gh", email=engineer.email)],
                       price_usd=Decimal("19.00"))  # fmt: skip
    assert DailyRollup.objects.get(model="seat").day == month  # the seat is counted in the person's spend

    response = login(manager).get(reverse("budgets:person", args=[engineer.pk]))
    figures = response.content.decode()
    figures = figures[figures.index('id="person-figures"') : figures.index('id="person-trend"')]
    assert "$22.00" in figures  # spend: usage and the seat
    small = figures[figures.index("Small-tier share") :]
    assert small.split('class="value">')[1].startswith("100&nbsp;%")  # gpt-4o-mini only; the seat is no model
    per_day = figures[figures.index("Spend per active day") :]
    assert per_day.split('class="value">')[1].startswith("$3.00") and "1 active day<" in per_day
    assert "$0.1000" in figures  # cost per request: $3 / 30
