"""A key's page shows its usage for the quarter: tokens, requests, cost and its source per model, a daily chart."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from allocator.models import DailyRollup, UsageBucket
from allocator.quarters import Quarter
from tests.budget_factories import MID_QUARTER, pinned_clock
from tests.conftest import login
from tests.factories import KeyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


def rollup(key, *, day, model, cost, requests=None, tokens=(0, 0, 0, 0)) -> DailyRollup:
    return DailyRollup.objects.create(
        day=day,
        account=key.account,
        provider=key.account.kind,
        key=key,
        owner_user_id=key.owner_user_id,
        owner_project_id=key.owner_project_id,
        team_id=key.team_id,
        cost_center_id=key.team.cost_center_id,
        model=model,
        cost_usd=Decimal(cost),
        requests=requests,
        input_tokens=tokens[0],
        cached_input_tokens=tokens[1],
        cache_write_tokens=tokens[2],
        output_tokens=tokens[3],
    )


def bucket(key, *, day, model, cost, source, provider_key_id=None) -> UsageBucket:
    return UsageBucket.objects.create(
        account=key.account,
        key=key,
        provider_key_id=provider_key_id or key.provider_key_id,
        model=model,
        bucket_start=datetime.combine(day, time(10), tzinfo=UTC),
        bucket_width="1h",
        cost_usd=Decimal(cost),
        cost_source=source,
    )


def sources(user, key) -> list:
    response = login(user).get(reverse("allocator:key_cost_sources", args=[key.pk]), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    rows, model = [], None
    for name, words, cost in re.findall(
        r'<td class="mono small">([^<]*)</td><td>([^<]*)</td><td class="num">\$([\d.,]+)', html
    ):
        if name:
            model = name
            rows.append((model, []))
        rows[-1][1].append((words, Decimal(cost.replace(",", ""))))
    return rows


@pytest.fixture
def key(simulated, engineer, team):
    return KeyFactory(account=simulated, owner_user=engineer, team=team, name="search-bot")


def test_usage_per_model_equals_the_rollups_and_names_the_source(key, engineer):
    today = MID_QUARTER.date()
    rollup(key, day=today, model="gpt-4o", cost="3.000000", requests=10, tokens=(1000, 400, 0, 200))
    rollup(key, day=today - timedelta(days=1), model="gpt-4o", cost="1.500000", requests=5, tokens=(500, 100, 0, 50))
    rollup(key, day=today, model="claude-haiku", cost="0.250000", requests=None, tokens=(300, 0, 120, 30))
    bucket(key, day=today, model="gpt-4o", cost="4.5", source=UsageBucket.CostSource.PROVIDER)
    bucket(key, day=today, model="claude-haiku", cost="0.25", source=UsageBucket.CostSource.PRICE_TABLE)
    rollup(key, day=Quarter.current().previous().start, model="gpt-4o", cost="99", requests=1)  # other quarter

    response = login(engineer).get(reverse("allocator:key_detail", args=[key.pk]))
    assert response.status_code == 200
    usage = response.context["usage"]
    by_model = {m.model: m for m in usage.models}
    assert [m.model for m in usage.models] == ["gpt-4o", "claude-haiku"]
    gpt = by_model["gpt-4o"]
    assert (gpt.input_tokens, gpt.cached_input_tokens, gpt.output_tokens, gpt.requests) == (1500, 500, 250, 15)
    assert gpt.cost_usd == Decimal("4.5")
    haiku = by_model["claude-haiku"]
    assert haiku.requests is None and haiku.cache_write_tokens == 120
    assert sources(engineer, key) == [
        ("gpt-4o", [("billed", Decimal("4.5"))]),
        ("claude-haiku", [("estimated", Decimal("0.25"))]),
    ]
    quarter = Quarter.current()
    direct = sum(r.cost_usd for r in DailyRollup.objects.filter(key=key, day__gte=quarter.start, day__lt=quarter.end))
    assert usage.total.cost_usd == direct == usage.chart.total == Decimal("4.75")
    html = response.content.decode()
    assert "<svg" in html and "<title>" in html and "n/a" in html
    assert reverse("allocator:key_cost_sources", args=[key.pk]) in html  # loaded after the page
    assert "gpt-4o: $3.00 (of $3.25)" in html  # the value on hover


def test_usage_of_a_rotated_keys_old_id_keeps_its_source(key, engineer):
    from accounts.models import AuditEvent

    AuditEvent.record("key.rotated", actor=engineer, target=key, old_provider_key_id="sk-old")
    rollup(key, day=MID_QUARTER.date(), model="gpt-4o", cost="2", requests=1)
    bucket(
        key,
        day=MID_QUARTER.date(),
        model="gpt-4o",
        cost="2",
        source=UsageBucket.CostSource.RECONCILED,
        provider_key_id="sk-old",
    )
    assert sources(engineer, key) == [("gpt-4o", [("reconciled", Decimal("2"))])]


def test_a_key_without_usage_says_so(key, engineer, outsider):
    response = login(engineer).get(reverse("allocator:key_detail", args=[key.pk]))
    assert "No usage in" in response.content.decode()
    page = login(engineer).get(reverse("allocator:key_cost_sources", args=[key.pk]))  # without htmx: a whole page
    assert "<html" in page.content.decode() and "Not recorded" in page.content.decode()
    assert login(outsider).get(reverse("allocator:key_cost_sources", args=[key.pk])).status_code == 404


def test_key_page_queries_do_not_grow_with_days_or_models(key, engineer, django_assert_max_num_queries):
    client = login(engineer)
    rollup(key, day=MID_QUARTER.date(), model="m0", cost="1", requests=1)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("allocator:key_detail", args=[key.pk]))
    with CaptureQueriesContext(connection) as few_sources:
        client.get(reverse("allocator:key_cost_sources", args=[key.pk]))
    for d in range(30):
        for m in range(6):
            day = MID_QUARTER.date() - timedelta(days=d)
            rollup(key, day=day, model=f"m{m}", cost="1", requests=1)
            bucket(key, day=day, model=f"m{m}", cost="1", source=UsageBucket.CostSource.PRICE_TABLE)
    with django_assert_max_num_queries(len(few)):
        client.get(reverse("allocator:key_detail", args=[key.pk]))
    with django_assert_max_num_queries(len(few_sources)):
        client.get(reverse("allocator:key_cost_sources", args=[key.pk]))


def test_daily_billed_buckets_count_as_the_source_too(key, engineer):
    day = MID_QUARTER.date()
    rollup(key, day=day, model="gpt-4o", cost="5", requests=2)
    UsageBucket.objects.create(
        account=key.account,
        key=key,
        provider_key_id=key.provider_key_id,
        model="gpt-4o",
        bucket_start=datetime.combine(day, time(), tzinfo=UTC),
        bucket_width="1d",
        cost_usd=Decimal("5"),
        cost_source=UsageBucket.CostSource.PROVIDER,
    )
    bucket(
        key, day=day - timedelta(days=3), model="gpt-4o", cost="9", source=UsageBucket.CostSource.MANUAL
    )  # no rollup
    assert sources(engineer, key) == [("gpt-4o", [("billed", Decimal("5"))])]
