"""CSRF on every state-changing view: every URL pattern the resolver knows (pages, API, the Django admin) is sent a
POST by a signed-in admin without a CSRF token, and must answer 403 for the missing token, writing nothing. New
views are covered as they are added; only endpoints that check a signature of their own are exempt."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern

from accounts.models import AuditEvent

# Endpoints a browser never posts to; each checks who sent the request in its own way.
SIGNED_ELSEWHERE = {
    "budgets:slack_interactions": "Slack's v0 HMAC signature of the body and timestamp (test_slack_interactions)",
    "budgets:stripe_webhook": "Stripe-Signature over the body and timestamp (test_chargeback_stripe)",
    "api:<catch-all>": "answers every unknown /api/ path with a JSON 404 and writes nothing",
}
# Refused all the same (403), though not for the token: the view only reads.
READ_ONLY = {"api:docs": "the API's Swagger page: GET only, a POST is refused (403) by its permission check"}
SAMPLES = {"int": "1", "id": "1", "str": "x", "slug": "x", "path": "x", "uuid": "00000000-0000-0000-0000-000000000001"}


def _route_path(route: str) -> str:
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "1"), route)


def _regex_path(regex: str) -> str | None:
    """A path for a re_path pattern: each group gets its first alternative or a digit; None if that fails."""
    text = regex.lstrip("^").rstrip("$").replace("\\Z", "")
    text = re.sub(r"\(\?P<\w+>([\w-]+)(?:\|[^)]*)?\)", r"\1", text)  # (?P<app_label>auth|accounts) -> auth
    text = re.sub(r"\(\?P<\w+>[^)]*\)", "1", text)
    text = text.replace("\\", "")
    return None if re.search(r"[()\[\]*+?]", text) else text


def state_changing_urls(resolver: URLResolver | None = None, prefix: str = "/", namespace: str = ""):
    """(name, path) for every URL pattern, with sample values in its arguments."""
    for pattern in (resolver or get_resolver()).url_patterns:
        part = pattern.pattern
        piece = _route_path(str(part)) if isinstance(part, RoutePattern) else _regex_path(part._regex)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from state_changing_urls(pattern, prefix + (piece or ""), inner)
        elif isinstance(pattern, URLPattern):
            if piece is None:  # a catch-all such as the API's r"^.*$"
                yield f"{namespace}<catch-all>", prefix + "no-such-page/"
                continue
            yield namespace + (pattern.name or f"<unnamed {pattern.pattern}>"), prefix + piece


@pytest.mark.django_db
def test_every_post_without_a_csrf_token_is_refused(admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    audit_before = AuditEvent.objects.count()
    checked, accepted = 0, []
    for name, path in state_changing_urls():
        if name in SIGNED_ELSEWHERE:
            continue
        resolve(path)  # the sample path really reaches the pattern
        response = client.post(path, {"reason": "x", "amount_usd": "5", "confirm": "on"})
        checked += 1
        if response.status_code != 403 or (b"CSRF" not in response.content and name not in READ_ONLY):
            accepted.append(f"{name} {path}: {response.status_code}")
    assert not accepted, f"POST without a CSRF token was not refused: {accepted}"
    assert checked > 100  # pages, API and admin
    assert AuditEvent.objects.count() == audit_before


def test_the_exempt_endpoints_are_exactly_the_signed_ones():
    """A view made csrf_exempt must say here how it checks its caller instead."""
    exempt = set()
    for name, path in state_changing_urls():
        match = resolve(path)
        if getattr(match.func, "csrf_exempt", False) and not hasattr(match.func, "cls"):  # DRF checks CSRF itself
            exempt.add(name)
    assert exempt == set(SIGNED_ELSEWHERE)
