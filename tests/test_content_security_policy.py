"""The Content-Security-Policy header: scripts and style sheets only from the site itself, so no template may
carry an event-handler attribute, nor an inline script or <style> block without the response's nonce (the
browser tests check the pages render under it with no violation: tests/test_browser_pages.py)."""

import re
from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from allocator import urls
from tests.conftest import login

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


def test_pages_send_a_policy_without_inline_script_or_eval(engineer):
    response = login(engineer).get(reverse("home"))
    policy = _directives(response)
    assert policy["script-src"] == "'self'"  # no nonce: this page has no inline script
    assert policy["style-src-elem"].startswith("'self'") and "unsafe-inline" not in policy["style-src-elem"]
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe-eval" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_login_page_has_the_policy_too():
    assert "script-src 'self'" in Client().get(reverse("accounts:login"))["Content-Security-Policy"]


NONCE = 'nonce="{{ request.csp_nonce }}"'


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_has_inline_script_handlers_or_style_blocks(path):
    html = path.read_text()
    for tag in re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html):
        assert NONCE in tag, "inline <script> without the nonce: move it to static/js/"
    assert not re.search(r"\son[a-z]+\s*=", html), "event-handler attribute: use a data- attribute and app.js"
    for tag in re.findall(r"<style[^>]*>", html):
        assert NONCE in tag, "<style> block without the nonce: move it to static/css/"


def test_the_api_docs_start_up_script_runs_under_the_nonce(engineer):
    response = login(engineer).get(reverse("api:docs"))
    nonce = re.search(r'<script nonce="([^"]+)">', response.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in _directives(response)["script-src"]
    assert "<style>" not in response.content.decode()


def test_the_server_error_page_styles_itself_under_the_policy_nonce(db):
    request = RequestFactory().get("/keys/")
    from csp.middleware import CSPMiddleware

    middleware = CSPMiddleware(lambda req: urls.server_error(req))
    response = middleware(request)
    nonce = re.search(r'<style nonce="([^"]+)">', response.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in _directives(response)["style-src-elem"]
