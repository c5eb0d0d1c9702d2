"""Secrets encrypted at rest: with an admin credential, a minted key's secret waiting to be revealed, Slack webhook
URLs, an event webhook's URL and signing secret and a personal API token all in place, every column of every table
is read raw through a cursor, and none of them appears in plain text (not even a long piece of one)."""

from __future__ import annotations

import secrets

import pytest
from django.db import connection
from django.urls import reverse

from accounts.api_tokens import api_token_create
from allocator.models import Key, ProviderKind
from budgets.models import BudgetPolicy
from budgets.webhooks import WebhookDestination
from tests.conftest import login
from tests.emulators.openrouter import OpenRouterEmulator
from tests.usage_helpers import emulator_account

pytestmark = pytest.mark.django_db


def every_stored_value() -> str:
    """All rows of all tables as text, read with a cursor (no model field decrypts anything)."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the schema
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview | bytes):
                        value = bytes(value).decode("latin-1")
                    values.append(str(value))
    return "\n".join(values)


def test_no_secret_is_stored_in_plain_text(eager_celery, django_capture_on_commit_callbacks, policy, engineer, team,
                                           admin, other_team, settings, date_in_a_month):  # fmt: skip
    with OpenRouterEmulator(credential="sk-or-v1-admin-" + secrets.token_hex(24)) as provider:
        account = emulator_account(ProviderKind.OPENROUTER, provider)
        with django_capture_on_commit_callbacks(execute=True):
            login(engineer).post(reverse("allocator:request_create"), {
                "account": account.pk, "owner": "me", "team": team.pk, "name": "ci", "purpose": "at rest",
                "allowance_usd": "10", "submit": "1"})  # fmt: skip
        key = Key.objects.get()
        key_secret = provider.secrets[key.provider_key_id]
        assert key.secret_available and key.pending_secret == key_secret  # held, encrypted, until revealed

        team.slack_webhook_url = "https://hooks.slack.com/services/T0/B0/" + secrets.token_hex(12)
        team.save()
        budget_policy = BudgetPolicy.current()
        budget_policy.finance_slack_webhook_url = "https://hooks.slack.com/services/T0/B1/" + secrets.token_hex(12)
        budget_policy.save()
        hook_url = "https://hooks.example.com/allocator/" + secrets.token_hex(12)
        login(admin).post(reverse("budgets:slack_settings"), {f"webhook-team-{other_team.pk}": hook_url})
        hook_secret = WebhookDestination.objects.get(team=other_team).secret
        _, api_token = api_token_create(user=engineer, name="ci", read_only=False, expires_on=date_in_a_month)

        plain = {
            "admin credential": provider.credential,
            "key secret": key_secret,
            "team Slack webhook": team.slack_webhook_url,
            "finance Slack webhook": budget_policy.finance_slack_webhook_url,
            "event webhook URL": hook_url,
            "event webhook signing secret": hook_secret,
            "API token": api_token,
        }
        stored = every_stored_value()
    assert f"\n{key.provider_key_id}\n" in stored and f"\n{api_token[:12]}\n" in stored  # it reads every row
    for what, value in plain.items():
        middle = value[len(value) // 4 : len(value) // 4 + 16]  # a piece no hint or redaction keeps
        assert value not in stored and middle not in stored, f"the {what} is stored in plain text"


@pytest.fixture
def date_in_a_month():
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now().date() + timedelta(days=30)
