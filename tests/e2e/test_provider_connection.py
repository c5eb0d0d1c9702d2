"""An admin connects a provider account (OpenRouter, against its loopback emulator) in the browser and tests the
connection: the right management key connects, a rejected one says so."""

from allocator.models import ProviderAccount
from tests.e2e.conftest import E2E_MARKS

pytestmark = E2E_MARKS


def test_admin_connects_a_provider_account_and_tests_the_connection(flow, admin, openrouter_emulator):
    page = flow.sign_in(admin.email)
    page.click("nav >> text=Provider accounts")
    page.click("text=Connect an account")
    page.select_option("select[name=kind]", "openrouter")
    page.wait_for_selector("label:has-text('Management key')")  # the form follows the provider (htmx)
    page.fill("input[name=name]", "OpenRouter staging")
    page.fill("input[name=base_url]", openrouter_emulator.url)
    page.fill("input[name=credential]", openrouter_emulator.credential)
    page.click("button:has-text('Save')")
    account = ProviderAccount.objects.get(name="OpenRouter staging")
    page.wait_for_url(f"**{account.get_absolute_url()}")
    assert account.kind == "openrouter" and account.credential == openrouter_emulator.credential
    assert openrouter_emulator.credential not in page.content()  # write-only

    page.click("button:has-text('Test connection')")
    page.wait_for_selector("#connection .badge-ok")
    assert "Connected" in page.inner_text("#connection")
    calls = [request for request in openrouter_emulator.requests if request.headers.get("authorization")]
    assert calls and all(c.headers["authorization"] == f"Bearer {openrouter_emulator.credential}" for c in calls)

    page.click("text=Edit")
    page.fill("input[name=credential]", "sk-or-v1-revoked-management-key")
    page.click("button:has-text('Save')")
    page.wait_for_url(f"**{account.get_absolute_url()}")
    page.click("button:has-text('Test connection')")
    page.wait_for_selector("#connection .badge-credentials_invalid")
    assert "Credentials invalid" in page.inner_text("#connection")
    account.refresh_from_db()
    assert account.status == ProviderAccount.Status.CREDENTIALS_INVALID
    assert "sk-or-v1-revoked-management-key" not in page.content()
    assert flow.errors == []
