"""Factories for budgets, bumps, alerts and the usage rows they read (DailyRollup, UsageBucket)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import factory
import time_machine
from django.utils import timezone

from allocator.models import DailyRollup, Key, UsageBucket
from allocator.quarters import Quarter
from allocator.usage.summaries import summaries_refresh
from budgets.models import Alert, Budget, BudgetRequest, Scope
from tests.factories import TeamFactory, UserFactory

# Tests whose outcome depends on the hour, day or quarter run at this instant: a Wednesday afternoon in the
# middle of FY2026-Q4 (not near midnight, the end of an hour or the end of a quarter).
MID_QUARTER = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


def pinned_clock(at: datetime = MID_QUARTER):
    """The clock stands still at `at` (use as a context manager or in an autouse fixture)."""
    return time_machine.travel(at, tick=False)


def _quarter() -> Quarter:
    return Quarter.current()


class BudgetFactory(factory.django.DjangoModelFactory):
    """A team budget for the current quarter unless told otherwise (use the helpers below for other scopes)."""

    class Meta:
        model = Budget

    scope = Scope.TEAM
    team = factory.SubFactory(TeamFactory)
    quarter = factory.LazyFunction(lambda: _quarter().name)
    quarter_start = factory.LazyAttribute(lambda o: Quarter.parse(o.quarter).start)
    amount_usd = Decimal("1000.00")
    hard = True


def team_budget(team, amount, *, hard=True, quarter: Quarter | None = None) -> Budget:
    q = quarter or _quarter()
    return BudgetFactory(scope=Scope.TEAM, team=team, amount_usd=Decimal(amount), hard=hard, quarter=q.name)


def user_budget(user, team, amount, *, hard=True, quarter: Quarter | None = None) -> Budget:
    q = quarter or _quarter()
    return BudgetFactory(scope=Scope.USER, user=user, team=team, amount_usd=Decimal(amount), hard=hard, quarter=q.name)


def project_budget(project, amount, *, hard=True, quarter: Quarter | None = None) -> Budget:
    q = quarter or _quarter()
    return BudgetFactory(
        scope=Scope.PROJECT, project=project, team=project.team, amount_usd=Decimal(amount), hard=hard, quarter=q.name
    )


def cost_center_budget(cost_center, amount, *, hard=False, quarter: Quarter | None = None) -> Budget:
    q = quarter or _quarter()
    return BudgetFactory(
        scope=Scope.COST_CENTER,
        cost_center=cost_center,
        team=None,
        amount_usd=Decimal(amount),
        hard=hard,
        quarter=q.name,
    )


class BudgetRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BudgetRequest

    budget = factory.SubFactory(BudgetFactory)
    requester = factory.SubFactory(UserFactory)
    team = factory.LazyAttribute(lambda o: o.budget.team)
    amount_usd = Decimal("200.00")
    reason = "An eval run"
    state = BudgetRequest.State.PENDING
    awaiting_step = BudgetRequest.Step.MANAGER


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    kind = Alert.Kind.THRESHOLD
    scope = Scope.TEAM
    scope_key = factory.Sequence(lambda n: f"team:{10_000 + n}")
    quarter = factory.LazyFunction(lambda: _quarter().name)
    threshold = 80
    message = "Team Search: $800.00 spent of the $1,000.00 FY2026-Q4 budget (80 %)."
    url = "/budgets/"


def spend(key: Key, amount, *, day: date | None = None, model: str = "gpt-4o-mini") -> DailyRollup:
    """One DailyRollup row for `key`, charged the way the usage sync charges it (owner, team, cost center); the
    usage summaries of its day are refreshed, as a sync refreshes them."""
    row = DailyRollup.objects.create(
        day=day or timezone.now().date(),
        account=key.account,
        provider=key.account.kind,
        key=key,
        owner_user_id=key.owner_user_id,
        owner_project_id=key.owner_project_id,
        team_id=key.team_id,
        cost_center_id=key.team.cost_center_id,
        model=model,
        cost_usd=Decimal(str(amount)),
    )
    summaries_refresh(days=[row.day])
    return row


def hourly(key: Key, amount, *, at: datetime, model: str = "gpt-4o-mini") -> UsageBucket:
    """One hourly UsageBucket for `key` starting at the hour of `at`."""
    return UsageBucket.objects.create(
        account=key.account,
        key=key,
        provider_key_id=key.provider_key_id,
        model=model,
        bucket_start=at.replace(minute=0, second=0, microsecond=0),
        bucket_width="1h",
        cost_usd=Decimal(str(amount)),
    )


def simulated_key(
    account,
    *,
    team,
    owner_user=None,
    owner_project=None,
    name: str | None = None,
    limit_usd=None,
    provider_key_id: str | None = None,
) -> Key:
    """A key that exists at the simulated provider too, so suspend/reinstate really go through its adapter.

    No quarterly allowance unless `limit_usd` is given, so only budgets limit it."""
    from allocator.models import SimulatedKey
    from tests.factories import KeyFactory

    key = KeyFactory(
        account=account,
        team=team,
        owner_user=owner_user,
        owner_project=owner_project,
        limit_usd=Decimal(str(limit_usd)) if limit_usd is not None else None,
        **({"provider_key_id": provider_key_id} if provider_key_id else {}),
    )
    if name:
        key.name = name
        key.save(update_fields=["name"])
    SimulatedKey.objects.create(account_id=account.pk, key_id=key.provider_key_id, name=key.name, hint=key.hint)
    return key
