"""The simulated provider's runaway scenario, pulled by the real usage sync, is caught by enforcement.

The simulated usage is a hash of (provider key id, hour), and the runaway is judged against the key's own last
24 hours, so the outcome depends on the hour of day and the key id. Both are fixed here: a weekday afternoon
(the key is busy, so its runaway hour is well above the policy's minimum dollars and 5× the daily average) and
a provider key id that does not come from a factory sequence (which depends on what ran before).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from allocator.models import Key, SimulatedKey
from budgets.enforce import enforce_budgets
from budgets.models import Alert, BudgetPolicy
from tests.budget_factories import MID_QUARTER, simulated_key


@time_machine.travel(MID_QUARTER, tick=False)
def test_the_simulated_runaway_scenario_is_caught(policy, simulated, engineer, team):
    ingest = pytest.importorskip("allocator.usage.sync", reason="usage ingestion is not in this checkout yet")
    force_runaway = getattr(pytest.importorskip("allocator.providers.simulated.usage"), "force_runaway", None)
    if force_runaway is None:
        pytest.skip("the simulated provider has no runaway scenario in this checkout yet")
    budget_policy = BudgetPolicy.current()
    budget_policy.suspend_on_runaway = True
    budget_policy.save()
    now = timezone.now()
    key = simulated_key(simulated, team=team, owner_user=engineer, name="erin-batch", provider_key_id="simkey_batch")
    Key.objects.filter(pk=key.pk).update(created_at=now - timedelta(days=3))
    remote = SimulatedKey.objects.get(key_id=key.provider_key_id)
    remote.created_at = now - timedelta(days=3)
    remote.profile = {"rate": 3000, "pattern": "service"}  # busy around the clock: a steady baseline
    remote.save()
    force_runaway(remote, at=now - timedelta(hours=1))

    ingest.usage_sync(account=simulated, since=now - timedelta(days=2), trigger="test", enforce=False)
    report = enforce_budgets()

    assert report.runaway == [key.pk]
    alert = Alert.objects.get(kind=Alert.Kind.RUNAWAY)
    assert "erin-batch" in alert.message and "in the last hour" in alert.message
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED
    remote.refresh_from_db()
    assert remote.disabled
