"""Alert wording: a person is over *their* budget, a team or project over *its* budget, a key over its allowance."""

from __future__ import annotations

import pytest

from allocator.keys import key_reinstate
from budgets.enforce import enforce_budgets
from budgets.models import Alert
from tests.budget_factories import pinned_clock, project_budget, simulated_key, spend, team_budget, user_budget


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


def _suspension_text(scope_key: str) -> str:
    return Alert.objects.get(kind=Alert.Kind.SUSPENSION, scope_key=scope_key).message


def test_a_person_is_over_their_budget(policy, simulated, engineer, team):
    team_budget(team, "5000")
    user_budget(engineer, team, "100")
    spend(simulated_key(simulated, team=team, owner_user=engineer), "100")
    enforce_budgets()  # 100 % alert; the key is suspended
    spend(simulated_key(simulated, team=team, owner_user=engineer, name="erin-new"), "1")
    enforce_budgets()  # a new key on the spent budget: the suspension alert

    text = _suspension_text(f"user:{engineer.pk}")
    assert text.startswith("Erin Engineer is over their $100.00 ") and "over its" not in text


def test_a_project_is_over_its_budget(policy, simulated, engineer, team, project):
    team_budget(team, "5000")
    project_budget(project, "100")
    spend(simulated_key(simulated, team=team, owner_project=project), "100")
    enforce_budgets()
    spend(simulated_key(simulated, team=team, owner_project=project, name="ranker-2"), "1")
    enforce_budgets()

    assert " is over its $100.00 " in _suspension_text(f"project:{project.pk}")


def test_a_key_is_over_its_allowance(policy, simulated, engineer, manager, team):
    team_budget(team, "5000")
    key = simulated_key(simulated, team=team, owner_user=engineer, name="erin-batch", limit_usd="50")
    spend(key, "50")
    enforce_budgets()
    key_reinstate(key=key, by=manager, reason="demo tomorrow")
    enforce_budgets()  # still over its allowance: suspended again, with the suspension alert

    text = _suspension_text(f"key:{key.pk}")
    assert text.startswith("Key erin-batch is over its $50.00 ") and "quarterly allowance" in text
