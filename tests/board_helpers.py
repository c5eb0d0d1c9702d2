"""Usage for the board tests: daily rollups with tokens and requests, then the quarter's summaries rebuilt, and
direct sums over those rollups to compare the pages with."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Sum

from allocator.models import DailyRollup, Key
from allocator.quarters import Quarter
from allocator.usage.summaries import summaries_rebuild
from tests.factories import KeyFactory, MembershipFactory, UserFactory


def use(
    key: Key,
    cost: str,
    *,
    day: date,
    model: str = "gpt-4o-mini",
    input_tokens: int = 0,
    cached: int = 0,
    output: int = 0,
    requests: int | None = None,
) -> DailyRollup:
    """One day of one key's usage, charged the way the sync charges it; rebuild the summaries afterwards."""
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
        input_tokens=input_tokens,
        cached_input_tokens=cached,
        output_tokens=output,
        requests=requests,
        cost_usd=Decimal(cost),
    )


def rebuild(*quarters: Quarter) -> None:
    for quarter in quarters:
        summaries_rebuild(quarter=quarter)


def member_with_key(team, account, *, name: str, role: str = "engineer"):
    user = UserFactory(full_name=name)
    MembershipFactory(user=user, team=team, role=role)
    return user, KeyFactory(account=account, owner_user=user, team=team)


def direct_cost(quarter: Quarter, **filters) -> Decimal:
    """Cost straight from the rollups (what each board row must equal)."""
    rows = DailyRollup.objects.filter(day__gte=quarter.start, day__lt=quarter.end, **filters)
    return rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")
