"""The demo: the simulated account's limits and four weeks of its minute demand show one model near its limit with
a projected crossover and an alert (what `make run` shows on the capacity page)."""

from __future__ import annotations

import io
import time

from django.core.management import call_command
from django.urls import reverse

from allocator.capacity.alerts import CAPACITY_SCOPE
from budgets.models import Alert
from tests.conftest import login


def test_demo_capacity_shows_gpt_4_1_near_its_limit_with_a_crossover_and_alerts(simulated, manager):
    started = time.monotonic()
    call_command("seed_demo_capacity", stdout=io.StringIO())
    seconds = time.monotonic() - started
    page = login(manager).get(reverse("capacity:headroom"))
    first = page.context["rows"][0]
    assert (first.limit.model, first.limit.dimension) == ("gpt-4.1", "tokens_per_minute")
    assert 80 <= first.percent < 100 and first.binds_first
    assert first.crossover is not None and 0 < first.days_to_crossover < 14
    kinds = set(Alert.objects.filter(scope=CAPACITY_SCOPE).values_list("kind", flat=True))
    assert kinds == {Alert.Kind.CAPACITY_PEAK, Alert.Kind.CAPACITY_CROSSOVER}
    assert all(row.crossover is None for row in page.context["rows"] if row.limit.model != "gpt-4.1")
    # Run again: nothing new (same anchor, same numbers, alerts once per crossing).
    call_command("seed_demo_capacity", stdout=io.StringIO())
    assert Alert.objects.filter(scope=CAPACITY_SCOPE).count() == 2
    assert seconds < 30, seconds
