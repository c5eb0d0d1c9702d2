"""Two enforcement runs at the same moment (two threads, two DB connections) still raise one alert per crossing."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from allocator.models import Key
from budgets.enforce import enforce_budgets
from budgets.models import Alert
from tests.budget_factories import pinned_clock, simulated_key, spend, team_budget, user_budget


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_raise_one_alert_per_crossing(engineer, team, simulated):
    from allocator.models import Policy

    Policy.current()
    key = simulated_key(simulated, team=team, owner_user=engineer)
    user_budget(engineer, team, "100")
    team_budget(team, "1000", hard=False)
    spend(key, "120")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            enforce_budgets()
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    rows = list(Alert.objects.values_list("scope_key", "threshold").order_by("scope_key", "threshold"))
    assert rows == [(f"user:{engineer.pk}", 50), (f"user:{engineer.pk}", 80), (f"user:{engineer.pk}", 100)]
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED


@pytest.mark.django_db
def test_the_database_refuses_a_second_row_for_the_same_crossing():
    from django.db import IntegrityError, transaction

    from budgets.thresholds import insert_new_alerts
    from tests.budget_factories import AlertFactory

    first = AlertFactory(scope_key="team:1", threshold=80, dedupe="1000.00")
    twin = Alert(
        kind=first.kind, scope_key="team:1", quarter=first.quarter, threshold=80, dedupe="1000.00", message="x"
    )
    insert_new_alerts([twin])  # what a run that lost the race does: silently nothing
    assert Alert.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            kind=first.kind, scope_key="team:1", quarter=first.quarter, threshold=80, dedupe="1000.00", message="y"
        )
