"""`bench enforce`: how long one enforcement run takes and how many queries it makes, at N keys and at 100.

Each measurement builds its own organisation, keys, budgets and usage inside a transaction that is rolled
back, so the database is left as it was. The data has a fixed number of events whatever N is (three
people past 80 %, one past a hard budget with two keys, one soft project over, one runaway key): the run
reads every key, budget and usage row, and the point is that its query count stays flat as N grows. Every key
has a quarterly allowance (a quarter of it used); one project key is past its allowance and gets suspended.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import CostCenter, Membership, Project, Team, User
from allocator.models import DailyRollup, Key, ProviderAccount, ProviderKind, SimulatedKey, UsageBucket
from allocator.quarters import Quarter
from budgets.enforce import enforce_budgets
from budgets.models import Budget, Scope

DAYS = 14
HOURS = 26


class _Rollback(Exception):
    pass


@dataclass
class _Org:
    ccs: list[CostCenter]
    teams: list[Team]
    projects: list[Project]
    people: list[User]


def _build(n: int, tag: str) -> dict:
    """n keys: half personal (one per person), half owned by projects, in n/100 teams."""
    now = timezone.now()
    quarter = Quarter.current()
    days = [d for d in (now.date() - timedelta(days=i) for i in range(DAYS)) if d >= quarter.start]
    account = ProviderAccount.objects.create(name=f"bench-{tag}", kind=ProviderKind.SIMULATED)
    org = _organisation(n, tag)
    keys = _keys(n, tag, account=account, org=org)
    daily = Decimal("1.00")
    usage_rows = _usage(keys, account=account, org=org, days=days, daily=daily, now=now)
    spent = daily * len(days)
    Key.objects.filter(pk__in=[k.pk for k in keys]).update(limit_usd=spent * 4)
    Key.objects.filter(pk=keys[-1].pk).update(limit_usd=spent)  # a project key at 100 % of its allowance
    budgets = _budgets(n, quarter=quarter, org=org, spent=spent)
    return {"keys": len(keys), "budgets": budgets, "usage_rows": usage_rows}


def _organisation(n: int, tag: str) -> _Org:
    n_teams = max(2, n // 100)
    ccs = CostCenter.objects.bulk_create(
        [CostCenter(code=f"B{tag}{i}", name=f"Bench {i}") for i in range(max(1, n_teams // 5))]
    )
    teams = Team.objects.bulk_create(
        [Team(cost_center=ccs[i % len(ccs)], name=f"Bench team {i}", slug=f"bench-{tag}-{i}") for i in range(n_teams)]
    )
    projects = Project.objects.bulk_create(
        [Project(team=teams[i % n_teams], name=f"P{i}", slug=f"bench-{tag}-p{i}") for i in range(n_teams * 2)]
    )
    people = User.objects.bulk_create([User(email=f"bench-{tag}-{i}@example.com") for i in range(n - n // 2)])
    Membership.objects.bulk_create([Membership(user=u, team=teams[i % n_teams]) for i, u in enumerate(people)])
    return _Org(ccs, teams, projects, people)


def _keys(n: int, tag: str, *, account: ProviderAccount, org: _Org) -> list[Key]:
    teams, projects, people = org.teams, org.projects, org.people
    keys = [
        Key(account=account, owner_user=u, team=teams[i % len(teams)], name=f"k{i}", provider_key_id=f"bench{tag}u{i}")
        for i, u in enumerate(people)
    ] + [
        Key(
            account=account,
            owner_project=projects[i % len(projects)],
            team=projects[i % len(projects)].team,
            name=f"pk{i}",
            provider_key_id=f"bench{tag}p{i}",
        )
        for i in range(n // 2)
    ]
    # The last person holds two keys: their hard budget is spent, so both get suspended.
    keys[1].owner_user = people[0]
    keys[1].team = teams[0]
    keys = Key.objects.bulk_create(keys, batch_size=500)
    SimulatedKey.objects.bulk_create(
        [
            SimulatedKey(account_id=account.pk, key_id=k.provider_key_id, name=k.name, hint="")
            for k in keys[:3] + keys[-1:]
        ]
    )
    return keys


def _usage(keys: list[Key], *, account: ProviderAccount, org: _Org, days: list, daily: Decimal, now) -> int:
    """Daily rollups for every key and day, hourly buckets for the last day (one key runs away)."""
    cost_center_of = {t.pk: t.cost_center_id for t in org.teams}
    rollups = [
        DailyRollup(
            day=day,
            account=account,
            provider=account.kind,
            key=k,
            owner_user_id=k.owner_user_id,
            owner_project_id=k.owner_project_id,
            team_id=k.team_id,
            cost_center_id=cost_center_of[k.team_id],
            model="gpt-4o-mini",
            cost_usd=daily,
        )
        for k in keys
        for day in days
    ]
    buckets = [
        UsageBucket(
            account=account,
            key=k,
            provider_key_id=k.provider_key_id,
            model="gpt-4o-mini",
            bucket_start=(now - timedelta(hours=h)).replace(minute=0, second=0, microsecond=0),
            bucket_width="1h",
            cost_usd=Decimal("50.00") if (k is keys[2] and h == 1) else Decimal("0.04"),
        )
        for k in keys
        for h in range(1, HOURS)
    ]
    DailyRollup.objects.bulk_create(rollups, batch_size=1000)
    UsageBucket.objects.bulk_create(buckets, batch_size=1000)
    return len(rollups) + len(buckets)


def _budgets(n: int, *, quarter: Quarter, org: _Org, spent: Decimal) -> int:
    budgets = [_budget(quarter, Scope.COST_CENTER, cc_id=cc.pk, amount=spent * n * 10) for cc in org.ccs]
    budgets += [_budget(quarter, Scope.TEAM, team=t, amount=spent * n * 2) for t in org.teams]
    budgets += [_budget(quarter, Scope.PROJECT, team=p.team, project=p, amount=spent * n) for p in org.projects]
    for i, person in enumerate(org.people):
        amount = spent * 3  # a third used: no alert
        if i == 0:
            amount = spent  # two keys at 2x: over the hard budget
        elif i in (3, 4, 5):
            amount = spent / Decimal("0.85")  # 85 %: threshold alerts
        budgets.append(_budget(quarter, Scope.USER, team=org.teams[i % len(org.teams)], user=person, amount=amount))
    soft = budgets[len(org.ccs) + len(org.teams)]
    soft.hard, soft.amount_usd = False, spent / 2  # one soft project over: alert only
    Budget.objects.bulk_create(budgets, batch_size=500)
    return len(budgets)


def _budget(quarter: Quarter, scope: str, *, amount: Decimal, cc_id=None, team=None, project=None, user=None):
    return Budget(
        scope=scope,
        cost_center_id=cc_id,
        team=team,
        project=project,
        user=user,
        quarter=quarter.name,
        quarter_start=quarter.start,
        amount_usd=amount.quantize(Decimal("0.01")),
    )


def _measure(n: int) -> dict:
    result: dict = {}
    try:
        with transaction.atomic():
            started = time.perf_counter()
            result.update(_build(n, tag=f"{n}x{int(started * 1000) % 100000}"))
            result["setup_seconds"] = round(time.perf_counter() - started, 2)
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                report = enforce_budgets()
            result["seconds"] = round(time.perf_counter() - started, 3)
            result["queries"] = len(queries)
            result["report"] = report.as_dict()
            raise _Rollback
    except _Rollback:
        pass
    return result


def bench_enforce(keys: int = 5000) -> dict:
    """Measure one enforcement run at `keys` keys and at 100, each on fresh rolled-back data."""
    small = _measure(100)
    big = _measure(keys)
    return {
        "bench": "enforce",
        "keys": keys,
        "seconds": big["seconds"],
        "queries": big["queries"],
        "queries_at_100_keys": small["queries"],
        "seconds_at_100_keys": small["seconds"],
        "budgets": big["budgets"],
        "usage_rows": big["usage_rows"],
        "setup_seconds": big["setup_seconds"],
        "alerts_created": big["report"]["alerts_created"],
        "suspended": big["report"]["suspended"],
        "runaway": big["report"]["runaway"],
    }


try:  # `manage.py bench` (allocator) imports this module to collect benchmarks
    from allocator.management.commands.bench import register
except ImportError:  # pragma: no cover - the bench command is not there yet
    register = None

if register is not None:
    register(
        "enforce",
        bench_enforce,
        help="Time one enforcement run at N keys and at 100 (queries must stay flat).",
        target={"queries_equal_at_100_keys": True},
        met=lambda result: result["queries"] == result["queries_at_100_keys"],
        arguments=[(("--keys",), {"type": int, "default": 5000})],
    )

import budgets.reports.benchmarks  # noqa: E402, F401  (registers `bench export`)
from budgets import bench_pages  # noqa: E402,F401  (registers `bench pages`)
