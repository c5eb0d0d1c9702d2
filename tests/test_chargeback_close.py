"""Closing a quarter: a confirmation listing what freezes, audited, once; the closed quarter's page and exports
never change; a late correction synced from the provider afterwards becomes an adjustment line in the next open
quarter, labelled with the closed one; budgets of a closed quarter are read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import AuditEvent
from budgets.allocation import budget_set, budgets_copy_from_previous_quarter
from budgets.reports.chargeback import chargeback_lines, chargeback_summary
from budgets.reports.close import quarter_close
from budgets.reports.models import QuarterClose
from tests.budget_factories import team_budget
from tests.chargeback_helpers import (
    FIRST_DAY_OF_Q4,
    LAST_DAY_OF_Q3,
    Q3,
    Q4,
    add_usage,
    bucket_sum,
    cents,
    csv_rows,
    early_q4,  # noqa: F401
    keys,  # noqa: F401
    openai_account,  # noqa: F401
    sync,
)
from tests.conftest import login

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("early_q4")]
CLOSE = reverse("budgets:chargeback_close")
PAGE = reverse("budgets:chargeback")


@pytest.fixture
def synced(openai_emulator, openai_account, keys):  # noqa: F811
    add_usage(openai_emulator, LAST_DAY_OF_Q3, "key_erin", tokens=200_000)
    add_usage(openai_emulator, LAST_DAY_OF_Q3, "key_rank", tokens=50_000)
    add_usage(openai_emulator, FIRST_DAY_OF_Q4, "key_rank", tokens=300_000)
    assert sync(openai_account).status == "succeeded"
    return keys


def test_the_confirmation_lists_what_freezes_and_closing_is_audited(synced, finance):
    client = login(finance)
    confirm = client.get(CLOSE, {"quarter": "FY2026-Q3"}).content.decode()
    assert "What freezes" in confirm and f"${cents(bucket_sum(Q3))}" in confirm and "RND" in confirm

    response = client.post(CLOSE, {"quarter": "FY2026-Q3"})
    assert response.status_code == 302
    close = QuarterClose.objects.get(quarter="FY2026-Q3")
    assert close.closed_by == finance and close.total_usd == bucket_sum(Q3) and close.line_count == 2
    event = AuditEvent.objects.get(action="chargeback.quarter_closed")
    assert event.actor == finance and event.details["quarter"] == "FY2026-Q3" and event.details["lines"] == 2
    assert event.label == "Quarter closed (chargeback frozen)"
    assert "Closed" in client.get(PAGE, {"quarter": "FY2026-Q3"}).content.decode()


def test_closing_twice_is_refused(synced, finance):
    client = login(finance)
    client.post(CLOSE, {"quarter": "FY2026-Q3"})
    again = client.post(CLOSE, {"quarter": "FY2026-Q3"}, follow=True)
    assert "FY2026-Q3 is already closed." in again.content.decode()
    with pytest.raises(ValidationError, match="already closed"):
        quarter_close(quarter=Q3, by=finance)
    assert QuarterClose.objects.count() == 1
    assert AuditEvent.objects.filter(action="chargeback.quarter_closed").count() == 1


def test_a_quarter_that_has_not_ended_cannot_be_closed(finance, manager):
    client = login(finance)
    assert "has not ended yet" in client.get(CLOSE, {"quarter": "FY2026-Q4"}).content.decode()
    client.post(CLOSE, {"quarter": "FY2026-Q4"})
    assert not QuarterClose.objects.exists()
    assert login(manager).post(CLOSE, {"quarter": "FY2026-Q3"}).status_code == 403


def test_a_late_correction_lands_as_an_adjustment_in_the_next_open_quarter(
    synced,
    finance,
    openai_emulator,
    openai_account,  # noqa: F811
):
    client = login(finance)
    client.post(CLOSE, {"quarter": "FY2026-Q3"})
    frozen_q3 = bucket_sum(Q3)
    q3_csv_before = csv_rows(client.get(reverse("budgets:chargeback_export", args=["csv"]), {"quarter": "FY2026-Q3"}))
    q4_usage = bucket_sum(Q4)

    # The provider corrects the last day of Q3 (inside the sync's 48-hour overlap): the next sync pulls it.
    add_usage(openai_emulator, LAST_DAY_OF_Q3, "key_rank", tokens=400_000, requests=7)
    assert sync(openai_account).status == "succeeded"
    late = bucket_sum(Q3) - frozen_q3
    assert late > 0

    # The closed quarter never changes: page and exports read the snapshot.
    q3 = chargeback_summary(chargeback_lines(quarter=Q3), quarter=Q3).totals
    assert q3.total_usd == frozen_q3
    assert (
        csv_rows(client.get(reverse("budgets:chargeback_export", args=["csv"]), {"quarter": "FY2026-Q3"}))
        == q3_csv_before
    )
    assert f'data-total="{cents(frozen_q3)}"' in client.get(PAGE, {"quarter": "FY2026-Q3"}).content.decode()

    # The next open quarter carries the difference as an adjustment labelled with Q3.
    lines = list(chargeback_lines(quarter=Q4))
    adjustments = [line for line in lines if line.category == "adjustment"]
    assert len(adjustments) == 1
    adjustment = adjustments[0]
    assert adjustment.for_quarter == "FY2026-Q3" and adjustment.cost_usd == late and adjustment.requests == 7
    assert adjustment.kind == "run" and adjustment.project_name == "Ranking"
    page = client.get(PAGE, {"quarter": "FY2026-Q4"}).content.decode()
    assert "Adjustment for FY2026-Q3: Ranking" in page
    assert f'data-total="{cents(q4_usage + late)}"' in page
    focus = csv_rows(client.get(reverse("budgets:chargeback_export", args=["focus"]), {"quarter": "FY2026-Q4"}))
    adjusted = [row for row in focus if row["ChargeCategory"] == "Adjustment"]
    assert len(adjusted) == 1 and Decimal(adjusted[0]["BilledCost"]) == late
    assert adjusted[0]["ChargeClass"] == "Correction" and adjusted[0]["x_UsageQuarter"] == "FY2026-Q3"
    assert adjusted[0]["ChargePeriodStart"] == "2026-07-01T00:00:00Z"
    assert adjusted[0]["BillingPeriodStart"] == "2026-10-01T00:00:00Z"

    # Syncing again changes nothing: the adjustment is the difference, not added twice.
    sync(openai_account)
    assert [line.cost_usd for line in chargeback_lines(quarter=Q4) if line.category == "adjustment"] == [late]


def test_budgets_of_a_closed_quarter_are_read_only(synced, finance, team):
    team_budget(team, "500", quarter=Q3)
    quarter_close(quarter=Q3, by=finance)
    with pytest.raises(ValidationError, match="FY2026-Q3 is closed: its budgets are read-only."):
        budget_set(by=finance, quarter=Q3, amount_usd=Decimal("900"), team=team)
    with pytest.raises(ValidationError, match="closed"):
        budgets_copy_from_previous_quarter(quarter=Q3, by=finance)
    page = login(finance).post(
        reverse("budgets:set"), {"quarter": "FY2026-Q3", "team": team.pk, "amount_usd": "900", "hard": "1"}, follow=True
    )
    assert "FY2026-Q3 is closed" in page.content.decode()
    copy = login(finance).post(reverse("budgets:copy"), {"quarter": "FY2026-Q3"}, follow=True)
    assert "FY2026-Q3 is closed" in copy.content.decode()
