"""What the headless-Chromium tests share: the skip rule, the browser fixture and signing in."""

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls in the test are still
    # plain synchronous calls, so tell Django they are safe here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"],
        )
        yield chromium
        chromium.close()


def sign_in(browser, live_server, email, width=1280):
    """A new page signed in as `email` (test users' password is "pw"), on the home page."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


# Every Content-Security-Policy violation is reported on the console (Chromium also logs "Refused to ...").
CSP_REPORTER = """document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));"""


def watch_console(page, origin, errors):
    """Append to `errors` every script error, console error and CSP violation of the site's pages on `page`."""
    page.add_init_script(CSP_REPORTER)

    def console(message):
        url = message.location.get("url", "")
        if url and not url.startswith(origin):
            return  # another site's page (the sign-in pages of an identity provider)
        # The Django admin links no icon, so the browser's own /favicon.ico guess answers 404 there.
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{message.text} ({url})")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
