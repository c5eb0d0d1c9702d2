"""The key flow in a real browser (headless Chromium): request, approve inline, reveal once."""

import re
from decimal import Decimal

from allocator.models import Key, KeyRequest
from tests.browser_support import BROWSER_MARKS, sign_in

pytestmark = BROWSER_MARKS




def test_request_approve_inline_and_reveal_once(
    browser, live_server, engineer, manager, simulated, policy, eager_celery
):
    policy.auto_approve_limit_usd = Decimal("50")
    policy.save()

    page = sign_in(browser, live_server, engineer.email)
    page.goto(f"{live_server.url}/requests/new/")
    page.fill("input[name=name]", "laptop")
    page.fill("textarea[name=purpose]", "Evaluating rerankers")
    page.fill("input[name=allowance_usd]", "300")
    page.click("button[name=submit]")
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    assert "Waiting for the" in page.content()

    approver = sign_in(browser, live_server, manager.email)
    approver.goto(f"{live_server.url}/approvals/")
    inbox_url = approver.url
    approver.click("button:has-text('Approve')")
    approver.wait_for_selector("text=Approved by you")
    assert approver.url == inbox_url  # decided in place, no page load

    key_request = KeyRequest.objects.get()
    assert key_request.state == KeyRequest.State.MINTED
    key = Key.objects.get(request=key_request)

    page.goto(f"{live_server.url}/keys/{key.pk}/reveal/")
    second_tab = sign_in(browser, live_server, engineer.email)  # opened before the reveal: its button is stale
    second_tab.goto(f"{live_server.url}/keys/{key.pk}/reveal/")
    page.click("button:has-text('Reveal secret once')")
    secret = page.inner_text("#secret-value")
    assert secret.startswith("sk-sim-") and secret.endswith(key.hint[-4:])

    # Once shown, the page says so up front instead of offering a button that can only fail.
    page.reload()
    assert secret not in page.content()
    assert page.locator("text=Already shown").is_visible()
    assert page.locator("button:has-text('Reveal secret once')").count() == 0

    second_tab.click("button:has-text('Reveal secret once')")
    second_tab.wait_for_selector("text=Already shown")
    assert secret not in second_tab.content()
