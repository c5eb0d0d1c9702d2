"""What the end-to-end flows share: a live server with a real Celery worker, the loopback OpenID Provider, pages
watched for script errors and Content-Security-Policy violations, and screenshots of every open page when a test
fails (var/e2e/<test>-<n>.png; the paths are printed)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.browser_support import CHROMIUM, watch_console

OIDC_DIR = Path(__file__).parent / "oidc"
SCREENSHOT_DIR = Path(settings.VAR_DIR) / "e2e"
REPORTS = pytest.StashKey[dict]()

E2E_MARKS = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, Any, Any]:
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole run (each person of each test gets a fresh context, so nothing is shared)."""
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API keeps an event loop running in this thread; the ORM calls in the tests are still
        # plain synchronous calls, so tell Django they are safe here.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"],
        )
        yield chromium
        chromium.close()


class Flow:
    """The pages one test opens (one browser context per person), watched from their first request."""

    def __init__(self, browser: Any, live_server: Any) -> None:
        self.browser = browser
        self.url = live_server.url
        self.pages: list[Any] = []
        self.errors: list[str] = []

    def open(self, width: int = 1280) -> Any:
        page = self.browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
        watch_console(page, self.url, self.errors)
        page.on("response", self._check_policy)
        self.pages.append(page)
        return page

    def _check_policy(self, response: Any) -> None:
        """Every page of the site comes with its Content-Security-Policy (the console then reports violations)."""
        is_page = response.request.resource_type == "document" and "text/html" in response.headers.get(
            "content-type", ""
        )
        policy = response.headers.get("content-security-policy") or ""
        if is_page and response.url.startswith(self.url) and "script-src 'self'" not in policy:
            self.errors.append(f"no Content-Security-Policy header on {response.url}")

    def sign_in(self, email: str) -> Any:
        """A new page signed in as `email` (test users' password is "pw"), on the home page."""
        page = self.open()
        page.goto(f"{self.url}/accounts/login/")
        page.fill("input[name=username]", email)
        page.fill("input[name=password]", "pw")
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.url}/")
        return page

    def screenshots(self, name: str) -> list[Path]:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        paths = []
        for number, page in enumerate(self.pages, start=1):
            path = SCREENSHOT_DIR / f"{name}-{number}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
            except Exception as error:  # a closed or crashed page: say so, keep the others
                print(f"no screenshot of page {number} ({page.url}): {error}")
                continue
            paths.append(path)
        return paths


@pytest.fixture
def flow(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Flow]:
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    for old in SCREENSHOT_DIR.glob(f"{name}-*.png"):
        old.unlink()
    flow = Flow(browser, live_server)
    yield flow
    reports = request.node.stash.get(REPORTS, {})
    if any(report.failed for report in reports.values()):
        for path in flow.screenshots(name):
            print(f"screenshot: {path}")
    for page in flow.pages:
        page.context.close()


def wait_for(check: Callable[[], Any], *, timeout: float = 30, what: str = "the condition") -> Any:
    """Poll `check()` until it returns something true (the worker runs in another process); its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def _npm_ci() -> None:
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR, check=True)


@pytest.fixture(scope="session")
def oidc_provider(live_server: Any) -> Iterator[str]:
    """The OpenID Provider of tests/e2e/oidc/ on loopback, its one client redirecting to the live server."""
    _npm_ci()
    env = {
        **os.environ,
        "OIDC_PORT": str(settings.OIDC_PORT),
        "OIDC_CLIENT_ID": settings.OIDC_RP_CLIENT_ID,
        "OIDC_CLIENT_SECRET": settings.OIDC_RP_CLIENT_SECRET,
        "OIDC_REDIRECT_URI": f"{live_server.url}/oidc/callback/",
    }
    log_path = Path(settings.RUN_DIR) / "oidc-provider.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(["node", "provider.js"], cwd=OIDC_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: process.poll() is not None or "listening" in log_path.read_text(),
            timeout=30,
            what="the OpenID Provider",
        )
        if process.poll() is not None:
            raise RuntimeError("The OpenID Provider did not start:\n" + log_path.read_text()[-3000:])
        yield settings.OIDC_ISSUER
    finally:
        process.terminate()
        process.wait(timeout=10)
