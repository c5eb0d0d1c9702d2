"""The data `bench pages` measures on: an organisation at a company's scale and a year of hourly usage.

The organisation (bulk-created): cost centers, teams of ten, two projects a team, people (a finance person, an
admin, a manager per team), one personal key per person plus second personal keys and project keys, budgets for
every cost center, team and project and two of three people, waiting bumps and key requests, and a history of
sync runs. The usage: `rows` hourly buckets over the last 365 days, spread evenly over the hours and across
the keys (one model per key and week), written with one INSERT … SELECT on PostgreSQL and in batches elsewhere,
then rolled up (and summarised) by the real rollup code, so every page reads what a
year of syncs would have left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import CostCenter, Membership, Project, Team, User
from allocator.coding.bench_fill import coding_delete
from allocator.models import DailyRollup, Key, KeyRequest, ProviderAccount, ProviderKind, SyncRun, UsageBucket
from allocator.quarters import Quarter
from allocator.usage.rollups import rollups_recompute
from allocator.usage.summaries import summaries_rebuild
from allocator.usage.writer import BUCKET_TABLE
from budgets.forecast import budget_scope_series
from budgets.models import Budget, BudgetRequest, Scope
from budgets.series_store import series_store

HOURS = 365 * 24
TAG = "bench-pages"
MICRO = Decimal("0.000001")


@dataclass
class Scale:
    people: int = 2000
    keys: int = 5000
    models: int = 60
    team_size: int = 10
    cost_centers: int = 10


@dataclass
class BenchOrg:
    account: ProviderAccount
    engineer: User
    manager: User
    finance: User
    admin: User
    team: Team
    key: Key
    team_budget: Budget
    person_budget: Budget
    bump: BudgetRequest
    models: list[str]


def bench_org(*, models: list[str]) -> BenchOrg | None:
    """The organisation a previous fill left (with --keep), if any."""
    account = ProviderAccount.objects.filter(name=TAG).first()
    if account is None:
        return None
    engineer = User.objects.get(email=f"{TAG}-0@example.com")
    team = engineer.memberships.first().team
    quarter = Quarter.current()
    return BenchOrg(
        account=account,
        engineer=engineer,
        manager=User.objects.get(email=f"{TAG}-manager-0@example.com"),
        finance=User.objects.get(email=f"{TAG}-finance@example.com"),
        admin=User.objects.get(email=f"{TAG}-admin@example.com"),
        team=team,
        key=Key.objects.filter(account=account, owner_user=engineer).order_by("pk").first(),
        team_budget=Budget.objects.get(quarter=quarter.name, scope=Scope.TEAM, team=team),
        person_budget=Budget.objects.get(quarter=quarter.name, scope=Scope.USER, user=engineer),
        bump=BudgetRequest.objects.filter(team=team, state=BudgetRequest.State.PENDING).order_by("pk").first(),
        models=models,
    )


@transaction.atomic
def org_create(*, scale: Scale, models: list[str]) -> BenchOrg:
    """The organisation, its keys, budgets, waiting bumps and key requests, and sync runs (no usage yet)."""
    account = ProviderAccount.objects.create(name=TAG, kind=ProviderKind.OPENAI)
    n_teams = max(1, scale.people // scale.team_size)
    ccs = CostCenter.objects.bulk_create(
        CostCenter(code=f"BP{i}", name=f"Bench cost center {i}") for i in range(scale.cost_centers)
    )
    teams = Team.objects.bulk_create(
        Team(cost_center=ccs[i % len(ccs)], name=f"Bench team {i}", slug=f"{TAG}-{i}") for i in range(n_teams)
    )
    projects = Project.objects.bulk_create(
        Project(team=teams[i % n_teams], name=f"Bench project {i}", slug=f"{TAG}-p{i}", kind=("build", "run")[i % 2])
        for i in range(n_teams * 2)
    )
    people = User.objects.bulk_create(
        User(email=f"{TAG}-{i}@example.com", full_name=f"Bench person {i}", password="!") for i in range(scale.people)
    )
    managers = User.objects.bulk_create(
        User(email=f"{TAG}-manager-{i}@example.com", full_name=f"Bench manager {i}", password="!")
        for i in range(n_teams)
    )
    finance, admin = User.objects.bulk_create(
        [
            User(email=f"{TAG}-finance@example.com", full_name="Bench finance", role=User.Role.FINANCE, password="!"),
            User(email=f"{TAG}-admin@example.com", full_name="Bench admin", role=User.Role.ADMIN, password="!"),
        ]
    )
    Membership.objects.bulk_create(
        [Membership(user=u, team=teams[i % n_teams]) for i, u in enumerate(people)]
        + [Membership(user=m, team=teams[i], role=Membership.Role.MANAGER) for i, m in enumerate(managers)]
    )
    keys = _keys(scale, account=account, people=people, projects=projects, teams=teams)
    budgets = _budgets(ccs=ccs, teams=teams, projects=projects, people=people)
    bumps = _waiting(account=account, budgets=budgets, people=people, managers=managers, teams=teams)
    _sync_runs(account)
    team = teams[0]
    return BenchOrg(
        account=account,
        engineer=people[0],
        manager=managers[0],
        finance=finance,
        admin=admin,
        team=team,
        key=keys[0],
        team_budget=next(b for b in budgets if b.scope == Scope.TEAM and b.team_id == team.pk),
        person_budget=next(b for b in budgets if b.scope == Scope.USER and b.user_id == people[0].pk),
        bump=bumps[0],
        models=models,
    )


def _keys(scale: Scale, *, account, people, projects, teams) -> list[Key]:
    n_teams = len(teams)
    keys = [
        Key(account=account, owner_user=u, team=teams[i % n_teams], name=f"bench-{i}", provider_key_id=f"bp-u{i}")
        for i, u in enumerate(people)
    ]
    second = min(len(people), max(0, (scale.keys - len(people)) // 2))
    keys += [
        Key(account=account, owner_user=u, team=teams[i % n_teams], name=f"bench-{i}b", provider_key_id=f"bp-v{i}")
        for i, u in enumerate(people[:second])
    ]
    keys += [
        Key(
            account=account,
            owner_project=projects[i % len(projects)],
            team=projects[i % len(projects)].team,
            name=f"bench-p{i}",
            provider_key_id=f"bp-p{i}",
        )
        for i in range(max(0, scale.keys - len(keys)))
    ]
    return Key.objects.bulk_create(keys, batch_size=1000)


def _budgets(*, ccs, teams, projects, people) -> list[Budget]:
    quarter = Quarter.current()

    def budget(scope: str, amount: int, **scope_objects) -> Budget:
        return Budget(
            scope=scope,
            quarter=quarter.name,
            quarter_start=quarter.start,
            amount_usd=Decimal(amount),
            hard=scope in (Scope.USER, Scope.PROJECT),
            **scope_objects,
        )

    budgets = [budget(Scope.COST_CENTER, 40_000, cost_center=cc) for cc in ccs]
    budgets += [budget(Scope.TEAM, 3_000, team=t) for t in teams]
    budgets += [budget(Scope.PROJECT, 400, team=p.team, project=p) for p in projects]
    budgets += [
        budget(Scope.USER, 60 + 20 * (i % 4), team=teams[i % len(teams)], user=u)
        for i, u in enumerate(people)
        if i % 3 != 2
    ]
    return Budget.objects.bulk_create(budgets, batch_size=1000)


def _waiting(*, account, budgets, people, managers, teams) -> list[BudgetRequest]:
    """Bumps waiting for managers (personal budgets) and finance (team budgets); key requests waiting."""
    personal = [b for b in budgets if b.scope == Scope.USER][:40]
    of_teams = [b for b in budgets if b.scope == Scope.TEAM][:10]
    bumps = [
        BudgetRequest(budget=b, requester=b.user, team_id=b.team_id, amount_usd=Decimal("50"), reason="An eval run")
        for b in personal
    ]
    bumps += [
        BudgetRequest(
            budget=b,
            requester=managers[teams.index(next(t for t in teams if t.pk == b.team_id))],
            team_id=b.team_id,
            amount_usd=Decimal("500"),
            reason="More evals",
            awaiting_step=BudgetRequest.Step.FINANCE,
        )
        for b in of_teams
    ]
    bumps = BudgetRequest.objects.bulk_create(bumps)
    KeyRequest.objects.bulk_create(
        KeyRequest(
            requester=people[i],
            account=account,
            team=teams[i % len(teams)],
            name=f"bench-request-{i}",
            purpose="benchmark",
            allowance_usd=Decimal("200"),
            awaiting_step=KeyRequest.Step.FINANCE if i % 4 == 0 else KeyRequest.Step.MANAGER,
        )
        for i in range(min(40, len(people)))
    )
    return bumps


def _sync_runs(account: ProviderAccount) -> None:
    """Four syncs an hour for a year would be 35,000 runs; a few thousand make the point."""
    now = timezone.now()
    SyncRun.objects.bulk_create(
        (
            SyncRun(
                account=account,
                window_start=now - timedelta(hours=h + 48),
                window_end=now - timedelta(hours=h),
                status=SyncRun.Status.SUCCEEDED,
                started_at=now - timedelta(hours=h),
                heartbeat_at=now - timedelta(hours=h),
                finished_at=now - timedelta(hours=h) + timedelta(seconds=30),
            )
            for h in range(1, 3001)
        ),
        batch_size=1000,
    )


# --- usage ------------------------------------------------------------------------------------------------


def usage_clear(org: BenchOrg) -> None:
    UsageBucket.objects.filter(account=org.account)._raw_delete(connection.alias)
    DailyRollup.objects.filter(account=org.account)._raw_delete(connection.alias)


def usage_fill(org: BenchOrg, *, rows: int) -> dict:
    """`rows` hourly buckets over the 365 days before this hour, rolled up and summarised."""
    keys = list(Key.objects.filter(account=org.account).order_by("pk").values_list("pk", "provider_key_id"))
    rows = min(rows, HOURS * len(keys))
    first = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS)
    usage_clear(org)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _fill_postgres(org, keys=keys, rows=rows, first=first)
        else:
            _fill_batches(org, keys=keys, rows=rows, first=first)
    days = [(first + timedelta(hours=h)).date() for h in range(0, HOURS + 24, 24)]
    rollups_recompute(account=org.account, days=days)  # refreshes the usage summaries of those days too
    # What the enforcement run after a sync keeps for the pages (the run itself would call the provider).
    today = timezone.now().date()
    series_store(series=budget_scope_series(today=today), today=today)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Statistics of every table, as autovacuum keeps them in a running site: without them a fresh database
            # (a test run's) plans the pages' reads for empty tables, and a tiny fill's pages took seconds each.
            cursor.execute("ANALYZE")
    return {"buckets": rows, "rollups": DailyRollup.objects.filter(account=org.account).count()}


# Per bucket (hour h, j-th bucket of that hour): key (h * STRIDE + j) mod keys, the key's model of that week,
# a cost from the key's own rate (weekends at 30 %), tokens from the cost. Both writers below use these rules.
STRIDE = 7919


def _row_count(h: int, rows: int) -> int:
    return (h + 1) * rows // HOURS - h * rows // HOURS


def _fill_postgres(org: BenchOrg, *, keys: list, rows: int, first: datetime) -> None:
    n = len(keys)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("DROP TABLE IF EXISTS bench_keys")  # a second fill in one transaction (the tests) finds it
        cursor.execute("CREATE TEMP TABLE bench_keys (idx int PRIMARY KEY, key_id bigint, pkid text) ON COMMIT DROP")
        cursor.execute(
            "INSERT INTO bench_keys SELECT i - 1, k, p "
            "FROM unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS t(k, p, i)",
            [[k for k, _ in keys], [p for _, p in keys]],
        )
        cursor.execute(
            f"""INSERT INTO {BUCKET_TABLE} (account_id, key_id, provider_key_id, model, bucket_start, bucket_width,
                dims, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, requests,
                estimated_cost_usd, cost_usd, cost_source, synced_at)
            SELECT %(account)s, k.key_id, k.pkid, (%(models)s::text[])[1 + (k.idx * 7 + h / 168) %% %(m)s],
                %(first)s + h * interval '1 hour', '1h', '', c.micro / 2, CASE WHEN k.idx %% 3 = 0 THEN c.micro / 8
                ELSE 0 END, 0, c.micro / 10, 1 + c.micro / 10000, c.micro * 0.000001, c.micro * 0.000001,
                'price_table', now()
            FROM generate_series(0::bigint, %(hours)s::bigint - 1) AS h
            CROSS JOIN LATERAL generate_series(
                0::bigint, ((h + 1) * %(rows)s::bigint / %(hours)s - h * %(rows)s::bigint / %(hours)s) - 1
            ) AS j
            JOIN bench_keys k ON k.idx = (h * {STRIDE}::bigint + j) %% %(n)s
            CROSS JOIN LATERAL (SELECT (20000 + (k.idx * 7919 %% 101) * 2000)
                * CASE WHEN extract(isodow FROM %(first)s + h * interval '1 hour') >= 6 THEN 3 ELSE 10 END / 10
                AS micro) c""",  # noqa: S608
            {
                "account": org.account.pk,
                "models": org.models,
                "m": len(org.models),
                "first": first,
                "hours": HOURS,
                "rows": rows,
                "n": n,
            },
        )


def _fill_batches(org: BenchOrg, *, keys: list, rows: int, first: datetime) -> None:
    n, batch = len(keys), []
    for h in range(HOURS):
        start = first + timedelta(hours=h)
        factor = 3 if start.isoweekday() >= 6 else 10
        for j in range(_row_count(h, rows)):
            idx = (h * STRIDE + j) % n
            micro = (20000 + (idx * 7919 % 101) * 2000) * factor // 10
            batch.append(
                UsageBucket(
                    account=org.account,
                    key_id=keys[idx][0],
                    provider_key_id=keys[idx][1],
                    model=org.models[(idx * 7 + h // 168) % len(org.models)],
                    bucket_start=start.astimezone(UTC),
                    bucket_width="1h",
                    input_tokens=micro // 2,
                    cached_input_tokens=micro // 8 if idx % 3 == 0 else 0,
                    output_tokens=micro // 10,
                    requests=1 + micro // 10000,
                    estimated_cost_usd=Decimal(micro) * MICRO,
                    cost_usd=Decimal(micro) * MICRO,
                )
            )
        if len(batch) >= 5000:
            UsageBucket.objects.bulk_create(batch)
            batch = []
    UsageBucket.objects.bulk_create(batch)


def org_delete() -> None:
    """Everything a fill made (the bench leaves the database as it found it unless --keep)."""
    coding_delete(tag=TAG)  # before the summaries are rebuilt below
    account = ProviderAccount.objects.filter(name=TAG).first()
    if account is not None:
        UsageBucket.objects.filter(account=account)._raw_delete(connection.alias)
        DailyRollup.objects.filter(account=account)._raw_delete(connection.alias)
        today = timezone.now().date()
        for quarter in {Quarter.containing(today - timedelta(days=d)) for d in range(0, 367, 30)}:
            summaries_rebuild(quarter=quarter)  # the summaries no longer count the bench's usage
        KeyRequest.objects.filter(account=account).delete()
        Key.objects.filter(account=account).delete()
        SyncRun.objects.filter(account=account).delete()
    bench_teams = Team.objects.filter(slug__startswith=TAG)
    bench_ccs = CostCenter.objects.filter(code__startswith="BP", name__startswith="Bench cost center")
    BudgetRequest.objects.filter(team__in=bench_teams).delete()
    Budget.objects.filter(Q(team__in=bench_teams) | Q(cost_center__in=bench_ccs)).delete()
    Membership.objects.filter(team__in=bench_teams).delete()
    Project.objects.filter(slug__startswith=TAG).delete()
    bench_teams.delete()
    bench_ccs.delete()
    User.objects.filter(email__startswith=f"{TAG}-").delete()
    if account is not None:
        account.delete()
