"""The capacity alert share and crossover days on the policy page: bounded, explained when wrong (nothing saved),
blank falls back to the server's CAPACITY_ALERT_PERCENT / CAPACITY_CROSSOVER_DAYS, and the alerts follow them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from allocator.capacity.alerts import capacity_alerts_raise
from budgets.models import Alert, BudgetPolicy
from tests.capacity_helpers import limit_of, peaks_of
from tests.conftest import login
from tests.test_policy import VALID


def _post(client, **capacity):
    return client.post(reverse("allocator:policy"), {**VALID, **capacity})


def test_an_admin_sets_the_share_and_days_and_blank_means_the_settings(admin, settings):
    settings.CAPACITY_ALERT_PERCENT, settings.CAPACITY_CROSSOVER_DAYS = 85, 10
    client = login(admin)
    page = client.get(reverse("allocator:policy")).content.decode()
    assert (
        "Capacity alerts" in page and "CAPACITY_ALERT_PERCENT (85)" in page and "CAPACITY_CROSSOVER_DAYS (10)" in page
    )
    assert _post(client, capacity_alert_percent="70", capacity_crossover_days="30").status_code == 302
    policy = BudgetPolicy.current()
    assert (policy.capacity_percent, policy.capacity_days) == (70, 30)
    assert _post(client, capacity_alert_percent="", capacity_crossover_days="").status_code == 302
    policy = BudgetPolicy.current()
    assert (policy.capacity_alert_percent, policy.capacity_crossover_days) == (None, None)
    assert (policy.capacity_percent, policy.capacity_days) == (85, 10)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("capacity_alert_percent", "0", "A share of a limit is at least 1 %."),
        ("capacity_alert_percent", "101", "A share of a limit is at most 100 %."),
        ("capacity_alert_percent", "eighty", "Enter a whole number."),
        ("capacity_crossover_days", "181", "The crossover is projected at most 180 days ahead."),
        ("capacity_crossover_days", "1.5", "Enter a whole number."),
    ],
)
def test_bad_values_are_explained_and_nothing_is_saved(admin, field, value, error):
    page = _post(login(admin), **{field: value})
    text = page.content.decode()
    assert page.status_code == 200 and "Nothing was saved" in text and error in text
    policy = BudgetPolicy.current()
    assert (policy.capacity_alert_percent, policy.capacity_crossover_days, policy.forecast_alert_days) == (
        None,
        None,
        14,
    )


def test_the_alerts_follow_the_policy(simulated, admin):
    today = timezone.now().date()
    limit = limit_of(simulated, value=1000)
    peaks_of(limit, {today - timedelta(days=n): 750 for n in range(20, -1, -1)})  # flat at 75 %: no crossover
    assert capacity_alerts_raise(today=today) == 0  # under the default 80 %
    assert _post(login(admin), capacity_alert_percent="70").status_code == 302
    assert capacity_alerts_raise(today=today) == 1
    alert = Alert.objects.get(kind=Alert.Kind.CAPACITY_PEAK)
    assert alert.threshold == 70 and "75\u00a0% of its 1,000 limit" in alert.message
