"""Usage summaries equal a direct sum over the rollups (and so the buckets), after real syncs and re-syncs."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import time_machine
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Project
from allocator.models import DailyRollup, DailySummary, Key, SimulatedKey, UsageBucket, UsageSummary
from allocator.quarters import Quarter
from allocator.usage.pricing import SMALL_TIER_RULE, model_tier
from allocator.usage.summaries import daily_series, scope_totals, summaries_rebuild, usage_totals
from allocator.usage.sync import usage_sync
from tests.budget_factories import MID_QUARTER, simulated_key, spend
from tests.factories import KeyFactory, ProjectFactory


def _busy(key: Key, *, days: int = 3) -> None:
    now = timezone.now()
    Key.objects.filter(pk=key.pk).update(created_at=now - timedelta(days=days))
    SimulatedKey.objects.filter(key_id=key.provider_key_id).update(created_at=now - timedelta(days=days))


def _synced_usage(simulated, team, engineer):
    run = ProjectFactory(team=team, kind=Project.Kind.RUN)
    build = ProjectFactory(team=team, kind=Project.Kind.BUILD)
    keys = [
        simulated_key(simulated, team=team, owner_user=engineer, provider_key_id="simkey_sum_a"),
        simulated_key(simulated, team=team, owner_project=run, provider_key_id="simkey_sum_b"),
        simulated_key(simulated, team=team, owner_project=build, provider_key_id="simkey_sum_c"),
    ]
    for key in keys:
        _busy(key)
    usage_sync(account=simulated, since=timezone.now() - timedelta(days=2), trigger="test", enforce=False)
    assert UsageBucket.objects.filter(account=simulated).exists()
    return keys, run, build


def _direct(quarter: Quarter, column: str) -> dict[str, Decimal]:
    rows = DailyRollup.objects.filter(day__gte=quarter.start, day__lt=quarter.end, **{f"{column}__isnull": False})
    return {str(r[column]): r["total"] for r in rows.values(column).annotate(total=Sum("cost_usd")).order_by()}


@time_machine.travel(MID_QUARTER, tick=False)
def test_quarter_totals_equal_a_direct_sum_after_a_real_sync(simulated, team, engineer):
    keys, run, build = _synced_usage(simulated, team, engineer)
    quarter = Quarter.current()

    for kind, column in [("user", "owner_user"), ("project", "owner_project"), ("team", "team"), ("key", "key")]:
        totals = {row["ref"]: row["cost_usd"] for row in usage_totals(quarter=quarter, kind=kind)}
        assert totals == _direct(quarter, column), kind
    # Tokens and requests too, per model.
    models = {row["ref"]: row for row in usage_totals(quarter=quarter, kind="model")}
    direct = DailyRollup.objects.values("model").annotate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    assert {m: (models[m]["input_tokens"], models[m]["output_tokens"]) for m in models} == {
        r["model"]: (r["i"], r["o"]) for r in direct
    }
    bucket_total = UsageBucket.objects.aggregate(total=Sum("cost_usd"))["total"]
    org = usage_totals(quarter=quarter, kind="org")
    assert org[0]["cost_usd"] == bucket_total.quantize(Decimal("0.000001"))

    # Build vs run follows the project's kind; personal keys count as build.
    classes = {row["ref"]: row["cost_usd"] for row in usage_totals(quarter=quarter, kind="class")}
    by_key = _direct(quarter, "key")
    assert classes["run"] == by_key[str(keys[1].pk)]
    assert classes["build"] == by_key[str(keys[0].pk)] + by_key[str(keys[2].pk)]

    # Budget scope keys read the same figures; active days and the last day are there.
    scoped = scope_totals(quarter=quarter, scope_keys=[f"user:{engineer.pk}", f"team:{team.pk}", "team:999999"])
    assert set(scoped) == {f"user:{engineer.pk}", f"team:{team.pk}"}
    assert scoped[f"team:{team.pk}"]["cost_usd"] == _direct(quarter, "team")[str(team.pk)]
    assert scoped[f"user:{engineer.pk}"]["active_days"] == 3
    assert scoped[f"user:{engineer.pk}"]["last_day"] == timezone.now().date()


@time_machine.travel(MID_QUARTER, tick=False)
def test_daily_summary_equals_the_rollups_per_day_and_a_resync_replaces_it(simulated, team, engineer):
    keys, _run, _build = _synced_usage(simulated, team, engineer)
    start, end = timezone.now().date() - timedelta(days=5), timezone.now().date() + timedelta(days=1)

    def per_day_rollups() -> dict:
        rows = DailyRollup.objects.filter(team=team).values("day").annotate(total=Sum("cost_usd")).order_by()
        return {r["day"]: r["total"] for r in rows}

    assert daily_series(kind="team", refs=[team.pk], start=start, end=end)[str(team.pk)] == per_day_rollups()
    before = DailySummary.objects.count()

    # The same window again: replaced, never added.
    usage_sync(account=simulated, since=timezone.now() - timedelta(days=2), trigger="test", enforce=False)
    assert DailySummary.objects.count() == before
    assert daily_series(kind="team", refs=None, start=start, end=end)[str(team.pk)] == per_day_rollups()
    provider = daily_series(kind="provider", refs=[simulated.kind], start=start, end=end)[simulated.kind]
    assert sum(provider.values()) == sum(per_day_rollups().values())


@time_machine.travel(MID_QUARTER, tick=False)
def test_unattributed_usage_is_its_own_class_and_the_small_tier_is_priced(db, team):
    key = KeyFactory(team=team)
    spend(key, "3.00", model="gpt-4o-mini")
    spend(key, "7.00", model="gpt-4o", day=timezone.now().date() - timedelta(days=1))
    DailyRollup.objects.create(
        day=timezone.now().date(), account=key.account, provider=key.account.kind, key=None, model="gpt-4o",
        cost_usd=Decimal("2.50"),
    )  # fmt: skip
    quarter = Quarter.current()
    summaries_rebuild(quarter=quarter)

    classes = {row["ref"]: row["cost_usd"] for row in usage_totals(quarter=quarter, kind="class")}
    assert classes == {"build": Decimal("10.000000"), "unattributed": Decimal("2.500000")}
    person = usage_totals(quarter=quarter, kind="user", refs=[key.owner_user_id])[0]
    assert person["small_tier_cost_usd"] == Decimal("3.000000")
    assert person["active_days"] == 2
    assert model_tier("openai", "gpt-4o-mini") == "small"
    assert model_tier("openai", "gpt-4o") == "large"
    assert model_tier("openai", "no-such-model-xyz") == "unpriced"
    assert "$1.00 per million" in SMALL_TIER_RULE
    accounts = daily_series(kind="account", refs=[key.account_id], start=quarter.start, end=quarter.end)
    assert sum(accounts[str(key.account_id)].values()) == Decimal("12.500000")
    unattributed = DailySummary.objects.filter(kind="account").aggregate(u=Sum("unattributed_cost_usd"))["u"]
    assert unattributed == Decimal("2.50")


@time_machine.travel(MID_QUARTER, tick=False)
def test_the_previous_quarter_up_to_the_same_day(db, team):
    quarter = Quarter.current()
    previous = quarter.previous()
    offset = timezone.now().date() - quarter.start
    key = KeyFactory(team=team)
    spend(key, "4.00", day=previous.start + offset - timedelta(days=1))  # before the same day: counted
    spend(key, "6.00", day=previous.start + offset)  # the same day itself is not over yet this quarter
    spend(key, "1.00")  # this quarter

    same_day = usage_totals(quarter=previous, kind="user", through=previous.start + offset)
    whole = usage_totals(quarter=previous, kind="user")
    assert same_day[0]["cost_usd"] == Decimal("4.000000")
    assert whole[0]["cost_usd"] == Decimal("10.000000")
    assert usage_totals(quarter=quarter, kind="user")[0]["cost_usd"] == Decimal("1.000000")
    assert UsageSummary.objects.filter(through__isnull=False).values("through").distinct().count() == 1


@time_machine.travel(MID_QUARTER, tick=False)
def test_reads_take_one_query_whatever_the_number_of_scopes(db, team, django_assert_num_queries):
    keys = [KeyFactory(team=team) for _ in range(6)]
    for key in keys:
        spend(key, "1.25")
    quarter = Quarter.current()
    wanted = [f"user:{key.owner_user_id}" for key in keys] + [f"key:{key.pk}" for key in keys]
    with django_assert_num_queries(1):
        totals = scope_totals(quarter=quarter, scope_keys=wanted)
    assert len(totals) == 12
    with django_assert_num_queries(1):
        rows = usage_totals(quarter=quarter, kind="user", team_id=team.pk)
    assert sorted(r["cost_usd"] for r in rows) == [Decimal("1.250000")] * 6
    with django_assert_num_queries(1):
        series = daily_series(kind="org", refs=None, start=quarter.start, end=quarter.end)
    per_day: dict = defaultdict(Decimal)
    for day, value in series[""].items():
        per_day[day] += value
    assert sum(per_day.values()) == Decimal("7.50")
