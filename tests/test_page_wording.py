"""Forms and wording: provider help from the provider class, real widgets, bounded policy, plain words."""

from __future__ import annotations

from django.urls import reverse

from allocator.models import ProviderAccount, ProviderKind
from allocator.providers import provider_class
from budgets.models import BudgetPolicy
from tests.budget_factories import team_budget, user_budget
from tests.conftest import login
from tests.factories import ProviderAccountFactory
from tests.test_policy import VALID


def test_the_connect_form_speaks_the_providers_words(admin):
    browser = login(admin)
    html = browser.get(reverse("allocator:account_create"), {"kind": "openai"}).content.decode()
    openai = provider_class("openai")
    assert "---------" not in html and "Base url" not in html and "Auto approve limit usd" not in html
    assert 'name="options"' not in html and "API base URL" in html
    assert f'<label for="id_credential">{openai.credential_label}' in html
    for spec in openai.option_specs:
        assert f'name="option_{spec.name}"' in html and spec.label in html
    assert '<option value="openai" selected>' in html
    assert "(optional)" not in html.split('id="row-credential"')[1].split("</label>")[0]  # required for OpenAI
    assert "(optional)" not in html.split('id="row-enabled"')[1].split("</label>")[0]  # a checkbox


def test_allowed_models_are_a_comma_or_line_list(admin):
    data = {"kind": "simulated", "name": "Sim", "enabled": "on", "allowed_models": "gpt-4o-mini, gpt-4o\no3-mini"}
    response = login(admin).post(reverse("allocator:account_create"), data)
    assert response.status_code == 302
    assert ProviderAccount.objects.get().allowed_models == ["gpt-4o-mini", "gpt-4o", "o3-mini"]
    edit = login(admin).get(reverse("allocator:account_edit", args=[ProviderAccount.objects.get().pk]))
    assert "gpt-4o-mini, gpt-4o, o3-mini</textarea>" in edit.content.decode()


def test_key_requests_offer_only_providers_that_can_mint(policy, engineer, team):
    minting = ProviderAccountFactory(kind=ProviderKind.SIMULATED, name="Can mint")
    importing = ProviderAccountFactory(kind=ProviderKind.ANTHROPIC, name="Imports only")
    html = login(engineer).get(reverse("allocator:request_create")).content.decode()
    assert provider_class(minting.kind).capabilities.mint and not provider_class(importing.kind).capabilities.mint
    assert "Can mint" in html and "Imports only" not in html
    assert "(optional)</span>" not in html.split('id="row-project"')[1].split("</label>")[0]


def test_policy_takes_thresholds_as_a_plain_list_and_refuses_a_negative_limit(admin):
    browser = login(admin)
    page = browser.get(reverse("allocator:policy")).content.decode()
    assert 'value="50, 80, 100"' in page
    assert browser.post(reverse("allocator:policy"), {**VALID, "alert_thresholds": "90, 50"}).status_code == 302
    assert BudgetPolicy.current().thresholds == [50, 90]
    response = browser.post(reverse("allocator:policy"), {**VALID, "auto_approve_limit_usd": "-1"})
    assert response.status_code == 200 and "Enter at least $0.00." in response.content.decode()


def test_one_budget_is_not_budgets_and_finance_is_not_asked_to_ask_finance(policy, finance, manager, team):
    team_budget(team, "1000")
    html = login(manager).get(reverse("budgets:overview")).content.decode()
    assert "of 1 budget:" in html
    assert "Ask finance for more" in login(manager).get(reverse("budgets:team", args=[team.pk])).content.decode()
    assert "Ask finance for more" not in login(finance).get(reverse("budgets:team", args=[team.pk])).content.decode()


def test_the_home_forecast_says_what_is_spent(policy, simulated, engineer, team):
    from tests.budget_factories import simulated_key, spend

    user_budget(engineer, team, "100")
    spend(simulated_key(simulated, team=team, owner_user=engineer), "120")
    html = login(engineer).get(reverse("home")).content.decode()
    assert "the budget is already spent" in html


def test_all_keys_is_the_only_highlighted_entry_on_all_keys(admin):
    html = login(admin).get(reverse("allocator:key_admin_list")).content.decode()
    assert html.count('aria-current="page"') == 1
