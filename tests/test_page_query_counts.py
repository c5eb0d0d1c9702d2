"""Budget pages read a fixed number of queries, and only the scopes they show, however large the organisation.

Each page is counted on a small organisation, then the organisation grows (more teams, people, keys, budgets,
usage rows, waiting bumps and key requests, in the page's own team and elsewhere) and the page is counted again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, User
from allocator.models import DailyRollup, KeyRequest, SyncRun
from allocator.quarters import Quarter
from budgets.enforce import enforce_budgets
from budgets.models import Budget, BudgetRequest, Scope
from budgets.tables import SNAPSHOT_FROM, Numbers
from tests.budget_factories import (
    BudgetRequestFactory,
    cost_center_budget,
    pinned_clock,
    project_budget,
    simulated_key,
    spend,
    team_budget,
    user_budget,
)
from tests.conftest import login
from tests.factories import KeyRequestFactory, MembershipFactory, ProjectFactory, TeamFactory, UserFactory

ROLLUP_TABLE = DailyRollup._meta.db_table


@pytest.fixture(autouse=True)
def _mid_quarter():
    with pinned_clock():
        yield


def _spend_days(key, amount, days=3):
    today = timezone.now().date()
    for i in range(days):
        spend(key, amount, day=today - timedelta(days=i + 1))


def _grow_team(simulated, team, *, people: int, manager=None, budgets=True) -> None:
    """`people` more engineers in `team`, each with a key, usage and (every other one) a personal budget and a
    waiting bump; a project with a budget, a key and a waiting bump; a waiting key request per person."""
    project = ProjectFactory(team=team)
    project_budget(project, "500")
    _spend_days(simulated_key(simulated, team=team, owner_project=project), "3")
    for i in range(people):
        person = UserFactory()
        MembershipFactory(user=person, team=team)
        _spend_days(simulated_key(simulated, team=team, owner_user=person), "2")
        if budgets and i % 2 == 0:
            budget = user_budget(person, team, "100")
            BudgetRequestFactory(budget=budget, requester=person, team=team)
        KeyRequestFactory(requester=person, team=team, account=simulated)
        KeyRequestFactory(requester=person, team=team, account=simulated, awaiting_step=KeyRequest.Step.FINANCE)
    team_bump_by = manager or UserFactory()
    BudgetRequestFactory(
        budget=Budget.objects.filter(scope=Scope.TEAM, team=team).first() or team_budget(team, "9000"),
        requester=team_bump_by,
        team=team,
        awaiting_step=BudgetRequest.Step.FINANCE,
    )


def _grow(simulated, team, manager) -> None:
    """The organisation grows: more people in the page's team, and new teams in new cost centers."""
    _grow_team(simulated, team, people=6, manager=manager, budgets=False)
    for _ in range(3):
        other = TeamFactory()
        cost_center_budget(other.cost_center, "20000")
        _grow_team(simulated, other, people=4)


@pytest.fixture
def org(policy, simulated, engineer, manager, team, project, cost_center):
    """The small organisation: Erin and Maya's team with a few budgets, usage, one bump and one key request."""
    cost_center_budget(cost_center, "10000")
    team_budget(team, "4000")
    project_budget(project, "800")
    mine = user_budget(engineer, team, "200")
    user_budget(manager, team, "300")  # so the request waiting for finance counts against a personal budget too
    MembershipFactory(user=UserFactory(), team=team)  # a member without a budget in this team
    _spend_days(simulated_key(simulated, team=team, owner_user=engineer), "5")
    _spend_days(simulated_key(simulated, team=team, owner_project=project), "7")
    bump = BudgetRequestFactory(budget=mine, requester=engineer, team=team)
    KeyRequestFactory(requester=engineer, team=team, account=simulated)
    # Something waits for finance too, so the small finance page is not an empty one.
    BudgetRequestFactory(
        budget=Budget.objects.get(scope=Scope.TEAM, team=team),
        requester=manager,
        team=team,
        awaiting_step=BudgetRequest.Step.FINANCE,
    )
    KeyRequestFactory(requester=manager, team=team, account=simulated, awaiting_step=KeyRequest.Step.FINANCE)
    SyncRun.objects.create(account=simulated, window_start=timezone.now(), window_end=timezone.now())
    return {"budget": mine, "bump": bump}


def _pages(org, cast) -> dict[str, tuple[object, str]]:
    return {
        "engineer_home": (cast["engineer"], reverse("home")),
        "manager_home": (cast["manager"], reverse("home")),
        "finance_home": (cast["finance"], reverse("home")),
        "finance_overview": (cast["finance"], reverse("budgets:overview")),
        "manager_overview": (cast["manager"], reverse("budgets:overview")),
        "team": (cast["manager"], reverse("budgets:team", args=[cast["manager"].memberships.first().team_id])),
        "budget_detail": (cast["engineer"], reverse("budgets:detail", args=[org["budget"].pk])),
        "bump_detail": (cast["manager"], reverse("budgets:bump_detail", args=[org["bump"].pk])),
        "manager_approvals": (cast["manager"], reverse("allocator:approvals")),
        "finance_approvals": (cast["finance"], reverse("allocator:approvals")),
        "sync_status": (cast["finance"], reverse("allocator:sync_status")),
    }


def _count(user, url) -> tuple[int, list[str]]:
    client = login(user)
    assert client.get(url).status_code == 200  # warm: sessions, caches
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url)
    assert page.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def test_every_budget_page_reads_the_same_number_of_queries_at_any_size(org, cast, simulated, team, manager):
    pages = _pages(org, cast)
    few = {name: _count(*page)[0] for name, page in pages.items()}
    _grow(simulated, team, manager)
    SyncRun.objects.bulk_create(
        SyncRun(account=simulated, window_start=timezone.now(), window_end=timezone.now()) for _ in range(30)
    )
    many = {name: _count(*page)[0] for name, page in pages.items()}
    assert many == few
    assert max(few.values()) <= 60


def test_the_growth_reaches_the_pages(org, cast, simulated, team, manager):
    """The grown organisation really is on the pages counted above (so equal counts mean something)."""
    _grow(simulated, team, manager)
    html = login(manager).get(reverse("allocator:approvals")).content.decode()
    assert html.count('id="bump-') >= 2 and html.count('id="kr-') >= 7
    html = login(finance := cast["finance"]).get(reverse("allocator:approvals")).content.decode()
    assert html.count('id="bump-') >= 4, finance
    members = Membership.objects.filter(team=team).count()
    html = login(manager).get(reverse("budgets:team", args=[team.pk])).content.decode()
    assert members >= 8 and html.count('id="row-user-') >= members
    assert KeyRequest.objects.filter(state=KeyRequest.State.PENDING).count() >= 20


@pytest.mark.parametrize(
    "name",
    ["engineer_home", "manager_home", "manager_overview", "team", "budget_detail", "bump_detail", "manager_approvals"],
)
def test_pages_of_one_person_or_team_read_only_their_scopes_usage(org, cast, simulated, team, manager, name):
    """No organisation-wide read of the usage rollups: every rollup query names the scopes it wants."""
    _grow(simulated, team, manager)
    _, queries = _count(*_pages(org, cast)[name])
    rollup_reads = [sql for sql in queries if ROLLUP_TABLE in sql]
    assert rollup_reads
    scoped = ('"owner_user_id" IN', '"owner_user_id" =', '"owner_project_id" IN', '"owner_project_id" =')
    scoped += ('"team_id" IN', '"team_id" =', '"key_id" IN', '"key_id" =', '"cost_center_id" IN')
    scoped += ('"cost_center_id" =',)
    for sql in rollup_reads:
        where = sql.split(" WHERE ", 1)[-1] if " WHERE " in sql else ""
        assert any(s in where for s in scoped), sql


def test_after_an_enforcement_run_a_page_of_many_scopes_reads_no_rollups(org, cast, simulated, team, manager):
    """Enforcement keeps the daily series it read; pages showing many scopes read them (the same numbers)."""
    _grow(simulated, team, manager)
    keys = {b.scope_key for b in Budget.objects.all()} | {
        f"user:{pk}" for pk in User.objects.values_list("pk", flat=True)
    }
    keys |= {f"user:{10_000 + i}" for i in range(SNAPSHOT_FROM)}  # people without usage: a page this big
    quarter = Quarter.current()
    from_rollups = {key: Numbers(quarter).series(key) for key in set(keys)}
    enforce_budgets()
    from_run = Numbers(quarter, keys)
    assert {key: from_run.series(key) for key in set(keys)} == from_rollups
    assert sum(1 for days in from_rollups.values() if days) > 10
    with CaptureQueriesContext(connection) as ctx:
        Numbers(quarter, keys)
    assert not [q["sql"] for q in ctx.captured_queries if ROLLUP_TABLE in q["sql"]]


def test_the_overview_counts_what_needs_attention_from_the_run_while_amounts_and_spend_stand(
    org, cast, simulated, team, manager
):
    """Today's enforcement run projected every budget: the overview takes each project and personal budget's
    status from it (no projection per budget) until the budget's amount or spend changes."""
    from budgets.models import SeriesSnapshot

    _grow(simulated, team, manager)
    finance = cast["finance"]
    before = login(finance).get(reverse("budgets:overview")).context
    enforce_budgets()
    snapshot = SeriesSnapshot.objects.get()
    person_keys = [b.scope_key for b in Budget.objects.filter(scope=Scope.USER)]
    assert person_keys and all(snapshot.outlooks[key][2] == "ok" for key in person_keys)
    after = login(finance).get(reverse("budgets:overview")).context
    assert (len(after["over"]), len(after["at_risk"])) == (len(before["over"]), len(before["at_risk"]))

    # The run's word stands while the inputs do (mark one "warn" to see it is what the page reads) ...
    chosen = person_keys[0]
    snapshot.outlooks[chosen][2] = "warn"
    snapshot.save()
    read = login(finance).get(reverse("budgets:overview")).context
    assert len(read["at_risk"]) == len(after["at_risk"]) + 1
    # ... and a budget whose amount changed since is projected again.
    budget = Budget.objects.get(scope=Scope.USER, user_id=int(chosen.split(":")[1]))
    Budget.objects.filter(pk=budget.pk).update(amount_usd=budget.amount_usd + 1)
    again = login(finance).get(reverse("budgets:overview")).context
    assert len(again["at_risk"]) == len(after["at_risk"])
