"""The Django admin reaches every model, so stuck data is repaired without a shell; secrets never show."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Notification
from allocator.capacity.models import DemandPeak, RateLimitRecord, ThrottleHint
from allocator.coding.store import coding_day_store, coding_seats_store
from allocator.models import (
    BilledCost,
    Key,
    KeyRequest,
    ModelPrice,
    ProviderAccount,
    SimulatedKey,
    SyncRun,
    UsageBucket,
    UsageGap,
)
from allocator.providers.coding import CodingUsageRow, SeatRow
from budgets.models import Alert, BudgetRequest, KeyEnforcement, ProviderCap, SpendLimitRequest
from tests.budget_factories import AlertFactory, BudgetRequestFactory, spend, team_budget
from tests.conftest import login
from tests.factories import KeyFactory, KeyRequestFactory

CREDENTIAL = "sk-admin-THE-STORED-CREDENTIAL-0123456789"
DEEP = "[" * 3000 + "]" * 3000


@pytest.fixture
def every_model(admin, engineer, team, project, simulated):
    """At least one row of every model the admin registers."""
    simulated.credential = CREDENTIAL
    simulated.save()
    key = KeyFactory(account=simulated, owner_user=engineer, team=team, pending_secret="sk-sim-PENDING-SECRET")
    KeyRequestFactory(requester=engineer, account=simulated, team=team)
    budget = team_budget(team, "1000")
    BudgetRequestFactory(budget=budget, requester=engineer)
    AlertFactory(budget=budget, team=team)
    KeyEnforcement.objects.create(key=key, suspended_by="", scope_key=f"team:{team.pk}")
    ProviderCap.objects.create(account=simulated, scope_key=f"team:{team.pk}", provider_scope_id="proj_1")
    SpendLimitRequest.objects.create(account=simulated, provider_request_id="slir_1", requester_email="e@example.com")
    UsageGap.objects.create(account=simulated, lost_from=timezone.now() - timedelta(days=9), lost_until=timezone.now())
    spend(key, "12.50")
    now = timezone.now()
    UsageBucket.objects.create(account=simulated, key=key, model="gpt-4o-mini", bucket_start=now, bucket_width="1h")
    BilledCost.objects.create(account=simulated, day=now.date(), billed_usd=Decimal("1.5"))
    SyncRun.objects.create(account=simulated, window_start=now - timedelta(hours=1), window_end=now)
    ModelPrice.objects.create(
        provider="openai", model="gpt-x", input_per_mtok=Decimal("1"), output_per_mtok=Decimal("2")
    )
    SimulatedKey.objects.create(account_id=simulated.pk, key_id="simk_1", name="k", hint="…0001")
    coding = ProviderAccount.objects.create(name="Claude Code", kind="claude_code")
    coding_day_store(account=coding, day=now.date(), rows=[
        CodingUsageRow(day=now.date(), identity=engineer.email, email=engineer.email, model="claude-x")
    ])  # fmt: skip
    coding_seats_store(account=coding, month=now.date(), seats=[SeatRow(identity=engineer.email)], price_usd=None)
    limiter = {"account": simulated, "model": "gpt-4.1", "dimension": "tokens_per_minute"}
    RateLimitRecord.objects.create(**limiter, value=10, source="provider")
    DemandPeak.objects.create(**limiter, day=now.date(), peak=5, p99=4, minutes=60)
    ThrottleHint.objects.create(account=simulated, day=now.date(), count=1, last_seen_at=now)
    Notification.objects.create(user=engineer, text="hello")
    AuditEvent.record("key.minted", actor=admin, target=key)
    Group.objects.create(name="Helpers")
    # django-axes' sign-in records (access attempts, failures, logins), from a real failed and a real sign-in.
    sign_in = reverse("accounts:login")
    Client().post(sign_in, {"username": engineer.email, "password": "pw"})
    Client().post(sign_in, {"username": engineer.email, "password": "wrong"})  # after: a success clears failures
    return key


def _registered() -> list:
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


def test_every_changelist_and_change_page_answers_200_for_a_superuser(admin, every_model):
    client = login(admin)
    for model in _registered():
        opts = model._meta
        changelist = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert changelist.status_code == 200, opts.label
        obj = model._default_manager.first()
        assert obj is not None, f"the fixture makes no {opts.label}"
        change = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert change.status_code == 200, opts.label


@pytest.mark.parametrize(
    "model",
    [ProviderAccount, Key, KeyRequest, BudgetRequest, Alert, KeyEnforcement],
    ids=lambda m: m._meta.label,
)
def test_budgets_keys_requests_alerts_and_accounts_are_in_the_admin(model):
    assert model in admin.site._registry


def test_secrets_never_show_in_the_admin(admin, every_model, simulated):
    client = login(admin)
    for url in (
        reverse("admin:allocator_provideraccount_change", args=[simulated.pk]),
        reverse("admin:allocator_provideraccount_changelist"),
        reverse("admin:allocator_key_change", args=[every_model.pk]),
        reverse("admin:allocator_key_changelist"),
    ):
        page = client.get(url).content.decode()
        assert CREDENTIAL not in page and "sk-sim-PENDING-SECRET" not in page, url


def _account_form(account: ProviderAccount, **changes) -> dict:
    data = {
        "name": account.name,
        "kind": account.kind,
        "base_url": account.base_url,
        "credential": "",
        "options": "{}",
        "allowed_models": "[]",
        # The hidden initial values the page carries for fields with a callable default, as a browser posts them.
        "initial-options": "{}",
        "initial-allowed_models": "[]",
        "enabled": "on",
        "auto_approve_limit_usd": "",
        "finance_approval_above_usd": "",
    }
    data.update(changes)
    return data


def test_the_credential_is_write_only_blank_keeps_it_typed_replaces_it(admin, simulated):
    simulated.credential = CREDENTIAL
    simulated.save()
    client = login(admin)
    url = reverse("admin:allocator_provideraccount_change", args=[simulated.pk])
    response = client.post(url, _account_form(simulated, name="Renamed"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    simulated.refresh_from_db()
    assert (simulated.name, simulated.credential) == ("Renamed", CREDENTIAL)
    client.post(url, _account_form(simulated, credential="sk-admin-NEW"))
    simulated.refresh_from_db()
    assert simulated.credential == "sk-admin-NEW"
    events = AuditEvent.objects.filter(action="admin.changed").order_by("id")
    assert [e.details["fields"] for e in events] == [["name"], ["credential"]]
    assert "sk-admin-NEW" not in str([e.details for e in events])


def test_json_options_nested_3000_deep_re_render_with_an_error(admin, simulated):
    client = login(admin)
    url = reverse("admin:allocator_provideraccount_change", args=[simulated.pk])
    response = client.post(url, _account_form(simulated, options=DEEP))
    assert response.status_code == 200
    assert "nested too deeply" in response.content.decode()
    simulated.refresh_from_db()
    assert simulated.options == {}


def test_json_nested_deeper_than_the_limit_but_parseable_is_refused_too(admin, simulated):
    client = login(admin)
    url = reverse("admin:allocator_provideraccount_change", args=[simulated.pk])
    response = client.post(url, _account_form(simulated, options='{"a":' * 50 + "1" + "}" * 50))
    assert response.status_code == 200 and "nested too deeply" in response.content.decode()


def test_an_admin_can_release_a_stuck_mint_claim(admin, engineer, team, simulated):
    key_request = KeyRequestFactory(
        requester=engineer, account=simulated, team=team, state=KeyRequest.State.APPROVED, awaiting_step=""
    )
    key_request.mint_claimed_at = timezone.now() - timedelta(hours=3)
    key_request.save()
    client = login(admin)
    url = reverse("admin:allocator_keyrequest_change", args=[key_request.pk])
    page = client.get(url).content.decode()
    assert 'name="mint_claimed_at_0"' in page and 'name="requester"' not in page
    data = {
        "name": key_request.name,
        "purpose": key_request.purpose,
        "allowance_usd": "200.00",
        "expires_on": "",
        "state": "approved",
        "awaiting_step": "",
        "decision_reason": "",
        "failure_message": "",
        "attempts": "0",
        "mint_claimed_at_0": "",
        "mint_claimed_at_1": "",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    key_request.refresh_from_db()
    assert key_request.mint_claimed_at is None and key_request.requester == engineer


def test_money_in_the_admin_is_bounded(admin, team):
    budget = team_budget(team, "1000")
    client = login(admin)
    url = reverse("admin:budgets_budget_change", args=[budget.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() if form[name].value() is not None else "" for name in form.fields}
    data.update({"amount_usd": "999999999999", "hard": "on" if budget.hard else ""})
    response = client.post(url, {k: v for k, v in data.items() if v is not False})
    assert response.status_code == 200 and "Enter at most" in response.content.decode()
    budget.refresh_from_db()
    assert budget.amount_usd == Decimal("1000.00")


def test_alerts_and_audit_are_history_not_editable(admin, team):
    alert = AlertFactory(team=team)
    event = AuditEvent.record("key.minted", actor=admin)
    client = login(admin)
    page = client.get(reverse("admin:budgets_alert_change", args=[alert.pk])).content.decode()
    assert 'name="status"' in page and 'name="message"' not in page
    assert client.get(reverse("admin:budgets_alert_add")).status_code == 403
    assert client.post(reverse("admin:budgets_alert_delete", args=[alert.pk]), {"post": "yes"}).status_code == 403
    assert client.post(reverse("admin:accounts_auditevent_change", args=[event.pk]), {}).status_code == 403
    assert Alert.objects.filter(pk=alert.pk).exists()


def test_an_id_beyond_64_bits_in_the_admin_is_not_a_500(admin):
    response = login(admin).get(reverse("admin:allocator_key_change", args=[2**64 + 1]))
    assert response.status_code in (302, 404)


def test_a_simulated_key_profile_nested_3000_deep_re_renders_with_an_error(admin, simulated):
    key = SimulatedKey.objects.create(account_id=simulated.pk, key_id="simk_9", name="k", hint="…0009")
    client = login(admin)
    url = reverse("admin:allocator_simulatedkey_change", args=[key.pk])
    data = {"account_id": simulated.pk, "key_id": "simk_9", "name": "k", "hint": "…0009", "profile": DEEP}
    data.update({"initial-profile": "{}", "created_at_0": "2026-12-01", "created_at_1": "10:00:00"})
    response = client.post(url, data)
    assert response.status_code == 200 and "nested too deeply" in response.content.decode()
    key.refresh_from_db()
    assert key.profile == {}
