"""Every amount a service takes is bounded (defect 1): the services refuse what the forms refuse, with a clear
message, and the database refuses what no service would write."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from allocator.key_requests import key_request_create
from allocator.models import Key, KeyRequest
from allocator.money import MAX_USD
from budgets.allocation import budget_set
from budgets.bumps import budget_request_create
from budgets.models import BudgetRequest
from tests.budget_factories import team_budget, user_budget
from tests.factories import KeyFactory, KeyRequestFactory


@pytest.mark.parametrize("amount", ["999999999999", "1e30", "NaN", "Infinity", str(MAX_USD + Decimal("0.01"))])
def test_the_bump_service_refuses_amounts_beyond_the_ceiling(policy, engineer, team, amount):
    team_budget(team, "5000")
    budget = user_budget(engineer, team, "100")
    with pytest.raises(ValidationError) as refused:
        budget_request_create(requester=engineer, budget=budget, amount_usd=Decimal(amount), reason="evals")
    assert "amount_usd" in refused.value.message_dict
    assert not BudgetRequest.objects.exists()


def test_the_bump_service_takes_the_ceiling_itself(policy, engineer, team):
    team_budget(team, "5000")
    budget = user_budget(engineer, team, "0")
    bump = budget_request_create(requester=engineer, budget=budget, amount_usd=MAX_USD, reason="a big eval")
    assert bump.amount_usd == MAX_USD and bump.state == BudgetRequest.State.PENDING


def test_a_bump_cannot_take_a_budget_past_the_ceiling(policy, engineer, team):
    team_budget(team, "5000")
    budget = user_budget(engineer, team, "100")
    with pytest.raises(ValidationError, match="cannot go above"):
        budget_request_create(requester=engineer, budget=budget, amount_usd=MAX_USD, reason="a big eval")


@pytest.mark.parametrize("amount", ["999999999999", "1e30", "NaN"])
def test_the_key_request_service_refuses_allowances_beyond_the_ceiling(policy, engineer, team, simulated, amount):
    with pytest.raises(ValidationError) as refused:
        key_request_create(
            requester=engineer,
            account=simulated,
            team=team,
            project=None,
            name="laptop",
            purpose="evals",
            allowance_usd=Decimal(amount),
        )
    assert "allowance_usd" in refused.value.message_dict
    assert not KeyRequest.objects.exists()


def test_budget_set_refuses_amounts_beyond_the_ceiling(finance, team):
    from allocator.quarters import Quarter

    with pytest.raises(ValidationError, match="at most"):
        budget_set(by=finance, quarter=Quarter.current(), amount_usd=Decimal("1e30"), team=team)


def test_the_database_refuses_allowances_and_limits_out_of_range(engineer, team, simulated):
    key_request = KeyRequestFactory(requester=engineer, account=simulated, team=team)
    key = KeyFactory(account=simulated, owner_user=engineer, team=team, limit_usd=Decimal("10"))
    for queryset, field in (
        (KeyRequest.objects.filter(pk=key_request.pk), "allowance_usd"),
        (Key.objects.filter(pk=key.pk), "limit_usd"),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            queryset.update(**{field: Decimal("-1")})
    # A key without a cap stays allowed.
    Key.objects.filter(pk=key.pk).update(limit_usd=None)
