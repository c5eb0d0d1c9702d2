"""Capacity alerts have kinds and words of their own: the alerts page and Slack name the model, the dimension, the
account and the numbers (peak against the limit, the projected date), never "Threshold 80 %" or "Forecast"; each
crossing alerts once; rows stored with the budget kinds are moved to the new ones."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.urls import reverse

from allocator.capacity.alerts import CAPACITY_SCOPE, capacity_alerts_raise
from allocator.models import ProviderAccount
from budgets.alerts import alert_deliver
from budgets.models import Alert, BudgetPolicy
from tests.budget_factories import pinned_clock
from tests.capacity_helpers import limit_of, peaks_of
from tests.conftest import login

TODAY = date(2026, 11, 30)
LIMIT = 2_000_000


def _growing(limit, *, top: float, days: int = 40) -> None:
    """Daily peaks doubling every 10 days, `top` × the limit today (TODAY)."""
    peaks_of(limit, {TODAY - timedelta(days=n): limit.value * top * 2 ** (-n / 10) for n in range(days, -1, -1)})


@pytest.fixture(autouse=True)
def _clock():
    with pinned_clock(datetime(2026, 11, 30, 12, tzinfo=UTC)):
        yield


@pytest.fixture
def prod(db) -> ProviderAccount:
    return ProviderAccount.objects.create(name="Prod-OpenAI", kind="simulated")


@pytest.fixture
def near(prod):
    limit = limit_of(prod, value=LIMIT)
    _growing(limit, top=0.85)
    return limit


def test_the_alerts_page_names_model_dimension_account_and_numbers(near, finance):
    assert capacity_alerts_raise(today=TODAY) == 2
    crossover = Alert.objects.get(kind=Alert.Kind.CAPACITY_CROSSOVER).message
    page = login(finance).get(reverse("budgets:alerts")).content.decode()
    peak = (
        "gpt-4.1 tokens per minute on Prod-OpenAI peaked at 1,700,000 on 30 November: 85\u00a0% of its 2,000,000 limit."
    )
    assert peak in page
    assert crossover.startswith("gpt-4.1 tokens per minute on Prod-OpenAI reaches its limit of 2,000,000 on ")
    assert crossover.endswith(" at this growth (peak 1,700,000 on 30 November, 85\u00a0%).") and crossover in page
    assert "Capacity peak \u2265\u00a080\u00a0%" in page and "Capacity crossover</span>" in page
    assert 'badge-info">Threshold' not in page and 'badge-warn">Forecast' not in page  # the budget kinds' badges


def test_slack_gets_the_capacity_titles_and_the_account_name_escaped(near, prod, slack_emulator):
    prod.name = "Prod <!channel>"
    prod.save()
    budget_policy = BudgetPolicy.current()
    budget_policy.finance_slack_webhook_url = slack_emulator.webhook_url
    budget_policy.save()
    capacity_alerts_raise(today=TODAY)
    for alert in Alert.objects.filter(scope=CAPACITY_SCOPE):
        assert alert_deliver(alert_id=alert.pk).status == "sent"
    texts = sorted(payload["blocks"][0]["text"]["text"] for payload in slack_emulator.payloads)
    assert len(texts) == 2
    peak, crossover = texts  # :chart… sorts before :hourglass…
    assert crossover.startswith("*:hourglass_flowing_sand: Capacity crossover*\ngpt-4.1 tokens per minute on Prod ")
    assert peak.startswith("*:chart_with_upwards_trend: Capacity peak*\ngpt-4.1 tokens per minute on Prod ")
    for payload in slack_emulator.payloads:
        for text in (payload["text"], payload["blocks"][0]["text"]["text"]):
            assert "<!channel>" not in text and "Prod &lt;!channel&gt;" in text


def test_each_crossing_alerts_once_and_a_new_limit_is_a_new_crossing(near):
    assert capacity_alerts_raise(today=TODAY) == 2
    assert capacity_alerts_raise(today=TODAY) == 0
    _growing(near, top=0.95)  # busier still: the same crossings
    assert capacity_alerts_raise(today=TODAY) == 0
    near.value = LIMIT * 2
    near.save()
    _growing(near, top=0.9)
    assert capacity_alerts_raise(today=TODAY) == 2  # the raised limit's 80 % and its crossover: new crossings
    kinds = list(Alert.objects.filter(scope=CAPACITY_SCOPE).values_list("kind", flat=True))
    assert sorted(kinds) == ["capacity_crossover"] * 2 + ["capacity_peak"] * 2


def test_capacity_alerts_stored_with_the_budget_kinds_move_to_their_own(db):
    migration = importlib.import_module("budgets.migrations.0013_capacity_alert_kinds")
    common = {"scope_key": "capacity:1", "quarter": "FY2027-Q1", "message": "m"}
    old_peak = Alert.objects.create(kind="threshold", scope=CAPACITY_SCOPE, threshold=80, dedupe="1000", **common)
    old_cross = Alert.objects.create(
        kind="forecast", scope=CAPACITY_SCOPE, threshold=14, dedupe="crossover:1000", **common
    )
    budget = Alert.objects.create(kind="threshold", scope="team", threshold=80, scope_key="team:1", quarter="FY2027-Q1")
    migration.capacity_kinds_forward(apps, None)
    kinds = dict(Alert.objects.values_list("pk", "kind"))
    assert kinds == {old_peak.pk: "capacity_peak", old_cross.pk: "capacity_crossover", budget.pk: "threshold"}
    migration.capacity_kinds_backward(apps, None)
    assert dict(Alert.objects.values_list("pk", "kind")) == {
        old_peak.pk: "threshold", old_cross.pk: "forecast", budget.pk: "threshold"
    }  # fmt: skip
