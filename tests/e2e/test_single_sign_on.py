"""A new person signs in through single sign-on against a real OpenID Provider on loopback (oidc-provider, with its
development login and consent pages) and lands in Allocator as an engineer."""

from accounts.models import AuditEvent, User
from tests.e2e.conftest import E2E_MARKS

pytestmark = E2E_MARKS


def test_a_new_person_signs_in_with_single_sign_on_and_lands_as_an_engineer(flow, oidc_provider, team):
    page = flow.open()
    # The provider's own sign-in pages link a web font; the run stays on loopback.
    page.route("https://fonts.googleapis.com/**", lambda route: route.fulfill(content_type="text/css", body=""))

    page.goto(f"{flow.url}/accounts/login/")
    page.click("text=Sign in with single sign-on")
    page.wait_for_url(f"{oidc_provider}/interaction/**")
    page.fill("input[name=login]", "nina")
    page.fill("input[name=password]", "any password")
    page.click("button:has-text('Sign-in')")
    page.click("button:has-text('Continue')")  # consent: Allocator may read the email and the name

    page.wait_for_url(f"{flow.url}/")
    assert page.inner_text("h1") == "Hello, Nina"
    person = User.objects.get(email="nina.newcomer@example.com")
    assert person.role == User.Role.ENGINEER and person.full_name == "Nina Newcomer" and not person.is_staff
    assert AuditEvent.objects.filter(action="user.created_by_sso", actor=person).exists()

    # Signed in as that person, with an engineer's menu: ask for a key, no approvals or admin pages.
    nav = page.inner_text("nav")
    assert "Request a key" in nav and "Approvals" not in nav and "Provider accounts" not in nav, nav
    assert page.goto(f"{flow.url}/requests/new/").status == 200

    # A second sign-in finds the same person instead of creating another.
    page.context.clear_cookies()
    page.goto(f"{flow.url}/oidc/authenticate/")
    page.wait_for_url(f"{oidc_provider}/interaction/**")
    page.fill("input[name=login]", "nina")
    page.fill("input[name=password]", "any password")
    page.click("button:has-text('Sign-in')")
    page.click("button:has-text('Continue')")
    page.wait_for_url(f"{flow.url}/")
    assert User.objects.filter(email__iexact="nina.newcomer@example.com").count() == 1
    assert flow.errors == []
