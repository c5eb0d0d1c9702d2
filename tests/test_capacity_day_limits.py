"""Per-day limits (requests per day, batch input tokens per day) against the day's total of the minutes pulled, on
the headroom table, the limit's page and its alerts; batch tokens count only Batch API usage (OpenAI, emulated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from allocator.capacity.alerts import capacity_alerts_raise
from allocator.capacity.headroom import headroom_rows
from allocator.capacity.limits import limits_refresh
from allocator.capacity.models import DemandPeak
from allocator.capacity.peaks import demand_sync
from allocator.models import ProviderAccount
from allocator.providers import capacity
from budgets.models import Alert
from tests.budget_factories import pinned_clock
from tests.capacity_helpers import limit_of
from tests.conftest import login

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
YESTERDAY = NOW.date() - timedelta(days=1)


@pytest.fixture(autouse=True)
def _clock():
    with pinned_clock(NOW):
        yield


@pytest.fixture
def prod(db, openai_emulator) -> ProviderAccount:
    openai_emulator.add_project("prod", project_id="proj_prod")
    openai_emulator.add_rate_limit(
        "proj_prod", "gpt-4.1", max_requests_per_1_day=1000, batch_1_day_max_input_tokens=100_000
    )
    return ProviderAccount.objects.create(
        name="Prod-OpenAI", kind="openai", base_url=openai_emulator.url, credential=openai_emulator.credential,
        options={"max_sleep": 0.02, "project_id": "proj_prod"},
    )  # fmt: skip


def _minutes(emulator, start: datetime, count: int, **counts) -> None:
    for n in range(count):
        emulator.add_usage(start + timedelta(minutes=n), model="gpt-4.1", project_id="proj_prod", **counts)


def _day_rows(account) -> dict[str, object]:
    return {
        row.limit.dimension: row
        for row in headroom_rows(today=NOW.date())
        if row.limit.account_id == account.pk and row.limit.per_day
    }


def test_per_day_limits_count_the_days_minutes_and_batch_only_batch(prod, openai_emulator):
    morning = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    _minutes(openai_emulator, morning, 30, input_tokens=1000, output_tokens=10, num_model_requests=20)  # 600 requests
    _minutes(openai_emulator, morning + timedelta(hours=3), 10, batch=True, input_tokens=8000, num_model_requests=3)
    _minutes(openai_emulator, NOW - timedelta(hours=2), 5, input_tokens=10, num_model_requests=4)  # today: 20
    assert limits_refresh(account=prod, now=NOW) == 4
    demand_sync(account=prod, now=NOW)
    rows = _day_rows(prod)
    requests, batch = rows[capacity.REQUESTS_PER_DAY], rows[capacity.BATCH_INPUT_TOKENS_PER_DAY]
    assert (requests.peak, requests.peak_day, requests.percent, requests.p99) == (630, YESTERDAY, 63, None)
    assert (batch.peak, batch.peak_day, batch.percent) == (80_000, YESTERDAY, 80)  # batch input only
    minute = next(r for r in headroom_rows(today=NOW.date()) if r.limit.dimension == capacity.TOKENS_PER_MINUTE)
    assert minute.peak == 8000  # per-minute limits still read the busiest minute


def test_the_headroom_table_and_the_limits_page_show_day_totals(simulated, manager):
    limit = limit_of(simulated, value=10_000, dimension=capacity.REQUESTS_PER_DAY)
    DemandPeak.objects.bulk_create(
        DemandPeak(account=simulated, model="gpt-4.1", dimension=capacity.REQUESTS_PER_DAY,
                   day=YESTERDAY - timedelta(days=n), peak=40, p99=10, minutes=1440, total=9000)
        for n in range(20)
    )  # fmt: skip
    client = login(manager)
    page = client.get(reverse("capacity:headroom"))
    [row] = [r for r in page.context["rows"] if r.limit == limit]
    assert (row.peak, row.percent) == (9000, 90)
    text = page.content.decode()
    assert "9,000" in text and "total 29 Nov" in text and "90&nbsp;%" in text
    detail = client.get(reverse("capacity:detail", args=[limit.pk]))
    assert detail.status_code == 200 and "Total per day, last 90 days" in detail.content.decode()
    assert not detail.context["chart"].empty
    assert capacity_alerts_raise(today=NOW.date()) == 1
    alert = Alert.objects.get(kind=Alert.Kind.CAPACITY_PEAK)
    assert alert.message == (
        "gpt-4.1 requests per day on Simulated reached 9,000 on 29 November: 90\u00a0% of its 10,000 limit."
    )
