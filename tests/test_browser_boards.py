"""The board pages in a real browser (headless Chromium): sorting swaps only the table and keeps the address
true, and every board page opens without script errors or sideways scrolling."""

from __future__ import annotations

import pytest
from django.utils import timezone

from allocator.quarters import Quarter
from tests.board_helpers import member_with_key, rebuild, use
from tests.browser_support import BROWSER_MARKS, sign_in

pytestmark = BROWSER_MARKS


@pytest.fixture
def usage(engineer, manager, team, simulated):
    today = timezone.now().date()
    for name, cost in (("Zed Zimmer", "50.00"), ("Abe Adams", "5.00")):
        _, key = member_with_key(team, simulated, name=name)
        use(key, cost, day=today, requests=10, input_tokens=1000, cached=100)
    rebuild(Quarter.current())


def test_sorting_swaps_the_table_and_pushes_the_address(browser, live_server, usage):
    page = sign_in(browser, live_server, "manager@example.com")
    page.goto(f"{live_server.url}/budgets/leaderboard/")
    assert page.locator("#board tbody tr").first.inner_text().find("Zed Zimmer") >= 0
    page.evaluate("window.fullLoads = (window.fullLoads || 0) + 1")
    page.click("#board th a:text('Name')")
    page.wait_for_url("**sort=name**")
    page.wait_for_function("document.querySelector('#board tbody tr').innerText.includes('Abe Adams')")
    assert page.evaluate("window.fullLoads") == 1  # the page was not reloaded: only #board was swapped
    assert page.locator("h1").inner_text().startswith("Leaderboards")


@pytest.mark.parametrize("email", ["manager@example.com", "finance@example.com", "engineer@example.com"])
def test_board_pages_open_cleanly(browser, live_server, usage, team, finance, email):
    page = sign_in(browser, live_server, email)
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    paths = ["/budgets/leaderboard/", "/budgets/leaderboard/?tab=models", "/budgets/efficiency/", "/budgets/adoption/"]
    if email != "engineer@example.com":
        paths.append(f"/budgets/compare/team/{team.pk}/")
    for path in paths:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, f"{path} is {width} px wide"
    assert not errors
