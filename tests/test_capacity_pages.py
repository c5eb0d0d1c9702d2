"""The capacity pages and API as people see them: the headroom table least headroom first, the empty states, one
limiter's chart, recording a limit by hand (bounded, clear errors), query counts that do not grow, the API rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from allocator.capacity.models import RateLimitRecord
from allocator.models import ProviderAccount
from allocator.providers import capacity
from budgets.models import BudgetPolicy
from tests.api_helpers import script
from tests.capacity_helpers import limit_of, peaks_of
from tests.conftest import login


def _growing(limit, *, today, top: float, days: int = 40) -> None:
    """Peaks doubling every 10 days, reaching `top` × the limit today."""
    peaks_of(limit, {today - timedelta(days=n): limit.value * top * 2 ** (-n / 10) for n in range(days, -1, -1)})


@pytest.fixture
def today():
    return timezone.now().date()


@pytest.fixture
def limits(simulated, today):
    near = limit_of(simulated, value=2_000_000, model="gpt-4.1")
    _growing(near, today=today, top=0.85)
    far = limit_of(simulated, value=10_000_000, model="gpt-4o-mini")
    peaks_of(far, {today - timedelta(days=n): 2_000_000 for n in range(30, -1, -1)})
    idle = limit_of(simulated, value=5_000, model="gpt-4.1", dimension=capacity.REQUESTS_PER_MINUTE)
    return near, far, idle


def test_headroom_lists_least_headroom_first_with_the_crossover(limits, manager):
    near, far, idle = limits
    page = login(manager).get(reverse("capacity:headroom"))
    assert page.status_code == 200
    rows = page.context["rows"]
    assert [row.limit for row in rows] == [near, far, idle]  # 85 %, 20 %, no demand seen
    assert rows[0].percent == 85 and rows[0].binds_first
    assert rows[0].crossover is not None and 0 < rows[0].days_to_crossover <= 4
    text = page.content.decode()
    assert "gpt-4.1" in text and "binds first" in text and "85&nbsp;%" in text
    assert "none yet" in text  # the idle limiter has no demand today


def test_engineers_may_not_see_capacity(limits, engineer):
    assert login(engineer).get(reverse("capacity:headroom")).status_code == 403


def test_empty_states_say_what_to_do(db, admin, manager):
    ProviderAccount.objects.all().delete()
    page = login(admin).get(reverse("capacity:headroom")).content.decode()
    assert "No provider account connected" in page and reverse("allocator:account_list") in page
    ProviderAccount.objects.create(name="Simulated", kind="simulated")
    page = login(manager).get(reverse("capacity:headroom")).content.decode()
    assert "No rate limits read yet" in page and "ask an admin" in page


def test_the_detail_chart_shows_peaks_the_limit_and_the_projection(limits, finance):
    near, _, _ = limits
    page = login(finance).get(reverse("capacity:detail", args=[near.pk]))
    assert page.status_code == 200
    chart = page.context["chart"]
    assert not chart.empty and chart.peaks and chart.projection and chart.limit_y is not None
    assert chart.crossover_x is not None and chart.crossover_x > chart.today_x
    assert "hits its limit on" in page.content.decode()


def test_anthropic_requests_are_not_applicable_never_zero(db, manager):
    account = ProviderAccount.objects.create(name="Anthropic", kind="anthropic")
    limit = limit_of(account, value=4000, model="claude-sonnet-4", dimension=capacity.REQUESTS_PER_MINUTE)
    page = login(manager).get(reverse("capacity:detail", args=[limit.pk])).content.decode()
    assert "Not reported by this provider" in page


def test_an_admin_records_a_limit_and_bad_input_is_explained(simulated, admin):
    client = login(admin)
    url = reverse("capacity:limit_record")
    data = {"account": simulated.pk, "model": "gpt-4.1", "dimension": capacity.TOKENS_PER_MINUTE, "note": "breaks here"}
    for bad in ("0", "1000000000001", "lots", "1.5"):
        page = client.post(url, {**data, "value": bad})
        assert page.status_code == 200 and "Nothing was saved" in page.content.decode(), bad
    assert not RateLimitRecord.objects.exists()
    page = client.post(url, {**data, "value": "1500000"})
    record = RateLimitRecord.objects.get()
    assert page.status_code == 302 and page["Location"] == record.get_absolute_url()
    assert (record.source, record.value, record.note, record.recorded_by) == ("manual", 1_500_000, "breaks here", admin)
    assert client.post(reverse("capacity:limit_remove", args=[record.pk])).status_code == 302
    assert not RateLimitRecord.objects.exists()


def test_a_manual_limit_wins_over_the_providers(limits, admin, today):
    near, _, _ = limits
    RateLimitRecord.objects.create(
        account=near.account, model=near.model, dimension=near.dimension, value=1_000_000, source="manual"
    )
    rows = login(admin).get(reverse("capacity:headroom")).context["rows"]
    first = rows[0]
    assert first.limit.source == "manual" and first.crossover == today  # 1.7M peak over a 1M limit
    assert len([r for r in rows if r.limit.model == "gpt-4.1" and r.limit.dimension == near.dimension]) == 1


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_query_counts_do_not_grow_with_limits_and_peaks(
    limits, simulated, finance, today, django_assert_max_num_queries
):
    BudgetPolicy.current()  # the policy row exists (its first read creates it)
    client = login(finance)
    urls = [reverse("capacity:headroom"), reverse("capacity:detail", args=[limits[0].pk]), reverse("api:capacity")]
    before = [_count(client, url) for url in urls]
    for n in range(30):
        more = limit_of(simulated, value=1_000_000 + n, model=f"model-{n}")
        _growing(more, today=today, top=0.5)
        ProviderAccount.objects.create(name=f"Account {n}", kind="simulated")
    after = [_count(client, url) for url in urls]
    assert after == before
    with django_assert_max_num_queries(before[0]):
        client.get(urls[0])


def test_api_capacity_rows_match_the_page(limits, manager):
    near, far, idle = limits
    body = script(manager).get(reverse("api:capacity")).json()
    assert body["count"] == 3
    first = body["results"][0]
    assert (first["limit_id"], first["model"], first["dimension"], first["limit"]) == (
        near.pk, "gpt-4.1", "tokens_per_minute", 2_000_000
    )  # fmt: skip
    assert first["share"] == "0.8500" and first["binds_first"] and first["crossover"]
    assert body["results"][2]["peak"] is None
    assert script(manager).get(reverse("api:capacity"), {"account": "Nope"}).status_code == 404
    assert script(manager).get(reverse("api:capacity"), {"account": "Simulated"}).json()["count"] == 3
