"""What a script does with personal tokens, and the numbers it reads are the pages' numbers.

The issue's acceptance: a script with a token requests a key, a manager's token approves it, the script reads
its usage with the figures the pages show; an engineer's token cannot see another team's objects.
"""

from decimal import Decimal

import time_machine
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.models import Key, KeyRequest
from budgets.models import Budget, BudgetRequest
from tests.api_helpers import script
from tests.budget_factories import MID_QUARTER, spend, team_budget, user_budget
from tests.conftest import login
from tests.factories import KeyFactory, KeyRequestFactory

JSON = "application/json"


def test_a_script_requests_a_key_a_manager_approves_and_the_script_reads_usage(
    engineer, manager, team, simulated, policy, eager_celery, django_capture_on_commit_callbacks
):
    bot, boss = script(engineer), script(manager)
    body = {"account": simulated.name, "team": team.slug, "name": "nightly", "purpose": "spend report",
            "allowance_usd": "250.00"}
    created = bot.post(reverse("api:key_request_list"), body, content_type=JSON)
    assert created.status_code == 201, created.content
    request_id = created.json()["id"]
    assert created.json()["state"] == "pending" and created.json()["allowance_usd"] == "250.00"

    waiting = boss.get(reverse("api:key_request_list"), {"decidable": "true"}).json()["results"]
    assert [r["id"] for r in waiting] == [request_id]
    assert bot.post(reverse("api:key_request_approve", args=[request_id])).status_code == 403  # not their own
    with django_capture_on_commit_callbacks(execute=True):
        approved = boss.post(reverse("api:key_request_approve", args=[request_id]))
    assert approved.status_code == 200 and approved.json()["decided_by"] == manager.email
    assert KeyRequest.objects.get(pk=request_id).state == KeyRequest.State.MINTED

    key_id = bot.get(reverse("api:key_request_detail", args=[request_id])).json()["key"]
    secret = bot.post(reverse("api:key_reveal", args=[key_id]))
    assert secret.status_code == 200 and secret.json()["secret"]
    assert bot.post(reverse("api:key_reveal", args=[key_id])).status_code == 409
    assert AuditEvent.objects.filter(action="key.secret_revealed", actor=engineer).count() == 1

    key = Key.objects.get(pk=key_id)
    spend(key, "12.345678", model="gpt-4o")
    spend(key, "0.654322", model="gpt-4o-mini")
    detail = bot.get(reverse("api:key_detail", args=[key_id])).json()
    page = login(engineer).get(reverse("allocator:key_detail", args=[key_id]))
    assert Decimal(detail["spend_usd"]) == page.context["spend"] == Decimal("13")
    assert detail["recent_days"][0]["cost_usd"] == "13.000000"
    usage = bot.get(reverse("api:usage_list"), {"group_by": "model", "key": key_id}).json()
    assert {(r["group"], r["cost_usd"]) for r in usage["results"]} == {("gpt-4o", "12.345678"),
                                                                       ("gpt-4o-mini", "0.654322")}


@time_machine.travel(MID_QUARTER, tick=False)
def test_budgets_read_as_on_the_budget_page_and_set_and_split_follow_the_same_rules(
    engineer, manager, finance, team, project
):
    budget = team_budget(team, "1000")
    key = KeyFactory(owner_project=project, team=team, owner_user=None)
    spend(key, "250.5")
    rows = script(manager).get(reverse("api:budget_list")).json()["results"]
    assert [(r["scope"], r["amount_usd"], r["spend_usd"]) for r in rows] == [("team", "1000.00", "250.500000")]
    page = login(manager).get(reverse("budgets:detail", args=[budget.pk]))
    assert page.context["fc"].spend == Decimal(rows[0]["spend_usd"])

    split = {"team": team.slug, "project": project.slug, "amount_usd": "400"}
    assert script(engineer).post(reverse("api:budget_split"), split, content_type=JSON).status_code == 403
    created = script(manager).post(reverse("api:budget_split"), split, content_type=JSON)
    assert created.status_code == 201 and created.json()["scope"] == "project"
    changed = script(manager).post(reverse("api:budget_split"), {**split, "amount_usd": "450"}, content_type=JSON)
    assert changed.status_code == 200 and changed.json()["amount_usd"] == "450.00"
    too_much = script(manager).post(reverse("api:budget_split"), {**split, "amount_usd": "4000"}, content_type=JSON)
    assert too_much.status_code == 400 and too_much.json()["error"]["code"] == "invalid"

    team_set = {"team": team.slug, "amount_usd": "2000", "hard": False}
    assert script(manager).post(reverse("api:budget_list"), team_set, content_type=JSON).status_code == 403
    set_by_finance = script(finance).post(reverse("api:budget_list"), team_set, content_type=JSON)
    assert set_by_finance.status_code == 200 and set_by_finance.json()["hard"] is False
    assert Budget.objects.get(pk=budget.pk).amount_usd == Decimal("2000")
    two = script(finance).post(reverse("api:budget_list"), {**team_set, "project": project.slug}, content_type=JSON)
    assert two.status_code == 400 and "exactly one" in two.json()["error"]["message"]


@time_machine.travel(MID_QUARTER, tick=False)
def test_a_bump_is_asked_for_and_decided_through_the_api(engineer, manager, team, policy):
    team_budget(team, "5000")
    mine = user_budget(engineer, team, "100")
    asked = script(engineer).post(reverse("api:budget_request_list"),
                                  {"budget": mine.pk, "amount_usd": "200", "reason": "load test"}, content_type=JSON)
    assert asked.status_code == 201, asked.content
    bump_id = asked.json()["id"]
    rejected = script(manager).post(reverse("api:budget_request_reject", args=[bump_id]), {}, content_type=JSON)
    assert rejected.status_code == 400 and "reason" in rejected.json()["error"]["fields"]
    approved = script(manager).post(reverse("api:budget_request_approve", args=[bump_id]))
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert Budget.objects.get(pk=mine.pk).amount_usd == Decimal("300")
    again = script(manager).post(reverse("api:budget_request_cancel", args=[bump_id]))
    assert again.status_code == 409


def test_an_engineers_token_sees_nothing_of_another_team(engineer, outsider, team, other_team, simulated):
    theirs = KeyFactory(account=simulated, owner_user=outsider, team=other_team)
    their_request = KeyRequestFactory(requester=outsider, account=simulated, team=other_team)
    their_bump = BudgetRequest.objects.create(
        budget=user_budget(outsider, other_team, "10"), requester=outsider, team=other_team,
        amount_usd=Decimal("5"), reason="x",
    )
    spend(theirs, "9.99")
    bot = script(engineer)
    assert bot.get(reverse("api:key_detail", args=[theirs.pk])).status_code == 404
    assert bot.get(reverse("api:key_request_detail", args=[their_request.pk])).status_code == 404
    assert bot.get(reverse("api:budget_request_detail", args=[their_bump.pk])).status_code == 404
    assert bot.post(reverse("api:key_request_cancel", args=[their_request.pk])).status_code == 404
    assert bot.get(reverse("api:key_list")).json()["count"] == 0
    assert bot.get(reverse("api:usage_list")).json()["count"] == 0
    assert bot.get(reverse("api:usage_list"), {"team": other_team.slug}).json()["count"] == 0
    assert bot.get(reverse("api:budget_list")).json()["count"] == 0
    ask = bot.post(reverse("api:budget_request_list"),
                   {"budget": their_bump.budget_id, "amount_usd": "1", "reason": "x"}, content_type=JSON)
    assert ask.status_code == 400 and "budget" in ask.json()["error"]["fields"]


def test_finance_reads_sync_runs_audit_events_and_queues_a_sync(finance, engineer, simulated, eager_celery,
                                                                django_capture_on_commit_callbacks):
    client = script(finance)
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(reverse("api:sync_now", args=[simulated.pk]))
    assert queued.status_code == 202 and queued.json() == {"queued": True, "account": simulated.name}
    runs = client.get(reverse("api:sync_run_list")).json()["results"]
    assert runs and runs[0]["account"] == simulated.name and runs[0]["trigger"] == "manual"
    events = client.get(reverse("api:audit_event_list"), {"action": "usage.sync_requested"}).json()["results"]
    assert [e["actor"] for e in events] == [finance.email]
    assert script(engineer).post(reverse("api:sync_now", args=[simulated.pk])).status_code == 403


def test_the_organisation_is_readable_by_everyone(engineer, manager, team, project, other_team):
    bot = script(engineer)
    assert {t["slug"] for t in bot.get(reverse("api:team_list")).json()["results"]} == {"search", "growth"}
    assert bot.get(reverse("api:project_list"), {"team": "search"}).json()["results"][0]["slug"] == "ranking"
    people = bot.get(reverse("api:person_list"), {"team": "search"}).json()["results"]
    assert {p["email"]: p["teams"][0]["role"] for p in people} == {
        engineer.email: "engineer", manager.email: "manager"}
    assert {c["code"] for c in bot.get(reverse("api:cost_center_list")).json()["results"]} == {"RND", "PROD"}


def test_key_actions_use_the_key_services_and_their_rules(engineer, manager, team, simulated):
    from tests.budget_factories import simulated_key

    key = simulated_key(simulated, team=team, owner_user=engineer)
    assert script(engineer).post(reverse("api:key_suspend", args=[key.pk]), {"reason": "x"},
                                 content_type=JSON).status_code == 403
    suspended = script(manager).post(reverse("api:key_suspend", args=[key.pk]), {"reason": "paused"},
                                     content_type=JSON)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    long = script(manager).post(reverse("api:key_reinstate", args=[key.pk]), {"reason": "x" * 201},
                                content_type=JSON)
    assert long.status_code == 400 and "reason" in long.json()["error"]["fields"]
    back = script(manager).post(reverse("api:key_reinstate", args=[key.pk]), {}, content_type=JSON)
    assert back.status_code == 200 and back.json()["status"] == "active"
    rotated = script(engineer).post(reverse("api:key_rotate", args=[key.pk]))
    assert rotated.status_code == 200 and rotated.json()["secret_available"] is True
    revoked = script(engineer).post(reverse("api:key_revoke", args=[key.pk]), {"reason": "done"}, content_type=JSON)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert script(engineer).post(reverse("api:key_revoke", args=[key.pk]), {}, content_type=JSON).status_code == 409
