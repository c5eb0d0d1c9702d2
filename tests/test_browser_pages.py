"""The main pages in a real browser (headless Chromium) as a manager and as finance: no script errors and no
Content-Security-Policy violations, nothing wider than a 1280 px window, and htmx served by the site itself (no
request leaves it)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from allocator.quarters import Quarter
from tests.browser_support import BROWSER_MARKS, sign_in, watch_console
from tests.budget_factories import BudgetRequestFactory, simulated_key, spend, team_budget, user_budget
from tests.factories import KeyRequestFactory

pytestmark = BROWSER_MARKS

# Pages both roles may open; `{key}` and friends are filled in from the rows the test makes.
COMMON_PAGES = [
    "/",
    "/keys/",
    "/keys/{key}/",
    "/requests/new/",
    "/requests/{key_request}/",
    "/approvals/",
    "/budgets/",
    "/budgets/teams/{team}/",
    "/budgets/{budget}/",
    "/budgets/bumps/new/",
    "/budgets/bumps/{bump}/",
    "/budgets/alerts/",
    "/budgets/people/{person}/",
    "/keys/team/",
    "/budgets/chargeback/",
    "/budgets/concentration/",
    "/budgets/what-if/?cache_percent=60&price_percent=10",
    "/accounts/organisation/",
    "/accounts/notifications/",
]
FINANCE_PAGES = ["/sync/", "/accounts/audit/", "/budgets/chargeback/close/?quarter={previous_quarter}"]



@pytest.fixture
def rows(engineer, manager, team, simulated, policy):
    """A quarter in progress: budgets, a key with two weeks of spend, a waiting key request and a waiting bump."""
    budget = team_budget(team, "2000")
    user_budget(engineer, team, "300")
    key = simulated_key(simulated, team=team, owner_user=engineer, name="search-evals", limit_usd="250")
    today = timezone.now().date()
    for days_ago in range(14):
        spend(key, Decimal("9.75"), day=today - timedelta(days=days_ago))
    key_request = KeyRequestFactory(requester=engineer, team=team, account=simulated, purpose="Reranker evaluation")
    bump = BudgetRequestFactory(requester=engineer, team=team, budget=budget, reason="Eval run for the new ranker")
    return {
        "key": key.pk,
        "key_request": key_request.pk,
        "team": team.pk,
        "budget": budget.pk,
        "bump": bump.pk,
        "person": engineer.pk,
        "previous_quarter": Quarter.current().previous().name,
    }



def _watch(page, live_server, errors, foreign):
    watch_console(page, live_server.url, errors)
    page.on("request", lambda request: request.url.startswith(live_server.url) or foreign.append(request.url))


def _visit_all(page, live_server, paths, htmx=True):
    """Open each page; return what went wrong on any of them, one line per problem."""
    problems, errors, foreign = [], [], []
    _watch(page, live_server, errors, foreign)
    for path in paths:
        errors.clear()
        response = page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        if response.status != 200:
            problems.append(f"{path}: status {response.status}")
        if "script-src 'self'" not in (response.headers.get("content-security-policy") or ""):
            problems.append(f"{path}: no Content-Security-Policy header")
        if errors:
            problems.append(f"{path}: console errors {errors}")
        scroll_width, window_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if htmx and scroll_width > window_width:
            problems.append(f"{path}: {scroll_width} px wide in a {window_width} px window")
        if htmx and not page.evaluate("typeof window.htmx === 'object'"):
            problems.append(f"{path}: htmx is not loaded")
    problems += [f"request left the site: {url}" for url in foreign]
    return problems


@pytest.mark.parametrize("role", ["manager", "finance"])
def test_main_pages_load_cleanly_in_a_browser(browser, live_server, cast, rows, role):
    paths = [path.format(**rows) for path in COMMON_PAGES + (FINANCE_PAGES if role == "finance" else [])]
    page = sign_in(browser, live_server, cast[role].email)

    assert _visit_all(page, live_server, paths) == []

    htmx_src = page.get_attribute("script[src*=htmx]", "src")
    assert htmx_src and not htmx_src.startswith(("http://", "https://", "//")), htmx_src


def test_budget_pages_fit_a_phone(browser, live_server, manager, rows):
    # Wide tables scroll inside their card; the page itself never scrolls sideways on a 390 px phone.
    paths = [
        path.format(**rows)
        for path in [
            "/",
            "/keys/",
            "/keys/{key}/",
            "/keys/team/",
            "/budgets/",
            "/budgets/teams/{team}/",
            "/budgets/people/{person}/",
            "/budgets/alerts/",
        ]
    ]
    page = sign_in(browser, live_server, manager.email, width=390)

    assert _visit_all(page, live_server, paths) == []


def test_the_not_found_page_fits_the_window(browser, live_server, manager):
    page = sign_in(browser, live_server, manager.email)
    response = page.goto(f"{live_server.url}/keys/999999/")
    assert response.status == 404
    assert "Page not found" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_optional_is_shown_only_where_a_field_can_be_left_empty(browser, live_server, finance):
    page = sign_in(browser, live_server, finance.email)
    page.goto(f"{live_server.url}/budgets/set/")
    assert page.inner_text("label[for=id_hard]").strip() == "Kind"  # a select with no blank choice

    page.goto(f"{live_server.url}/requests/new/")
    assert "(optional)" in page.inner_text("#row-expires_on label")


def test_sync_status_tables_fit_their_cards_at_1280(browser, live_server, finance, rows, simulated):
    from allocator.usage.models import SyncRun

    now = timezone.now()
    SyncRun.objects.create(
        account=simulated, window_start=now - timedelta(days=150), window_end=now, status="succeeded",
        finished_at=now, rows=238_486, pages=154, trigger="seed",
    )  # fmt: skip
    page = sign_in(browser, live_server, finance.email)
    page.goto(f"{live_server.url}/sync/")
    overflowing = page.evaluate(
        "[...document.querySelectorAll('section.card table')]"
        ".filter(t => t.scrollWidth > t.parentElement.clientWidth + 1).map(t => t.scrollWidth)"
    )
    assert overflowing == []


def test_finance_spend_charts_fit_a_phone(browser, live_server, finance, rows):
    from allocator.quarters import Quarter
    from allocator.usage.summaries import summaries_rebuild

    summaries_rebuild(quarter=Quarter.current())
    page = sign_in(browser, live_server, finance.email, width=390)
    assert _visit_all(page, live_server, ["/budgets/", "/budgets/people/{person}/".format(**rows)]) == []
    assert page.evaluate("document.querySelectorAll('#person-trend svg rect').length") > 0


def test_api_docs_and_admin_work_under_the_content_security_policy(browser, live_server, admin, settings):
    settings.WHITENOISE_USE_FINDERS = True  # Swagger UI's files straight from the packages, as `make run` serves them
    page = sign_in(browser, live_server, admin.email)

    assert _visit_all(page, live_server, ["/api/v1/docs/", "/admin/", "/admin/allocator/key/"], htmx=False) == []
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)  # Swagger UI ran and rendered the schema
    assert "/api/v1/key-requests/" in page.inner_text("#swagger-ui")


def test_confirmations_and_the_status_filter_work_without_inline_script(browser, live_server, engineer, rows):
    page = sign_in(browser, live_server, engineer.email)
    page.goto(f"{live_server.url}/requests/{rows['key_request']}/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("text=Cancel request")
    assert "Cancel request" in page.inner_text("main")  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Cancel request")
    page.wait_for_selector("text=Request cancelled.")

    page.goto(f"{live_server.url}/keys/")
    page.select_option("select[name=status]", "active")
    page.wait_for_url("**/keys/?status=active")
