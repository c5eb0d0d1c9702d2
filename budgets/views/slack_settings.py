"""Slack settings (admin): incoming webhooks per team and for finance, with a test message; and the signed
event webhooks (budgets.webhooks), whose secret is shown once when a URL is set."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.models import AuditEvent, Team
from accounts.permissions import Access
from budgets import slack, webhooks
from budgets.models import BudgetPolicy


def _masked(url: str) -> str:
    return f"…{url[-6:]}" if url else ""


WEBHOOK_MAX = 500  # Slack webhook URLs are about 80 characters; anything much longer is a paste gone wrong


def _send_test(request: HttpRequest, policy: BudgetPolicy, teams: list[Team], test: str) -> None:
    url = (
        policy.finance_slack_webhook_url
        if test == "finance"
        else next((t.slack_webhook_url for t in teams if f"team-{t.pk}" == test), "")
    )
    if not url:
        messages.error(request, "That destination has no webhook yet.")
        return
    try:
        slack.post_webhook(url, {"text": "Allocator test message: alerts for this channel arrive here."})
        messages.success(request, "Slack accepted the test message.")
    except slack.SlackError as error:
        messages.error(request, f"Slack refused the test message: {error}")


def _save_webhooks(request: HttpRequest, policy: BudgetPolicy, teams: list[Team]) -> None:
    changed, errors = [], []
    destinations = [("finance", policy, "finance_slack_webhook_url")]
    destinations += [(f"team-{t.pk}", t, "slack_webhook_url") for t in teams]
    for name, obj, attr in destinations:
        label = "Finance" if obj is policy else str(obj)
        value = request.POST.get(name, "").strip()
        if request.POST.get(f"{name}-clear"):
            value = ""
        elif not value:
            continue
        elif not value.startswith(("https://", "http://")):
            errors.append(f"{label}: a webhook is a URL (https://hooks.slack.com/…).")
            continue
        elif len(value) > WEBHOOK_MAX:
            errors.append(f"{label}: that is too long for a webhook URL (at most {WEBHOOK_MAX} characters).")
            continue
        setattr(obj, attr, value)
        obj.save(update_fields=[attr])
        changed.append(str(obj) if obj is not policy else "finance")
    for error in errors:
        messages.error(request, error)
    if changed:
        AuditEvent.record("slack.webhooks_changed", actor=request.user, destinations=changed)
        messages.success(request, f"Saved: {', '.join(changed)}.")


def _save_event_webhooks(request: HttpRequest, teams: list[Team]) -> dict[str, str]:
    changed, errors, new_secrets = webhooks.webhooks_save(posted=request.POST, teams=teams, by=request.user)
    for error in errors:
        messages.error(request, error)
    if changed:
        messages.success(request, f"Event webhooks saved: {', '.join(changed)}.")
    return new_secrets


@login_required
def slack_settings(request: HttpRequest) -> HttpResponse:
    """Incoming webhooks: one per team, one for finance. Stored encrypted; never shown back in full."""
    access = Access.for_request(request)
    if not access.is_admin:
        raise PermissionDenied
    policy = BudgetPolicy.current()
    teams = list(Team.objects.select_related("cost_center"))
    new_secrets: dict[str, str] = {}
    if request.method == "POST":
        if test := request.POST.get("test"):
            _send_test(request, policy, teams, test)
        else:
            _save_webhooks(request, policy, teams)
            new_secrets = _save_event_webhooks(request, teams)
        if not new_secrets:
            return redirect("budgets:slack_settings")
    event_finance_hint, event_teams = webhooks.webhooks_masked(teams)
    return render(
        request,
        "budgets/slack_settings.html",
        {
            "new_secrets": new_secrets,
            "event_finance_hint": event_finance_hint,
            "event_teams": event_teams,
            "finance_hint": _masked(policy.finance_slack_webhook_url),
            "teams": [(t, _masked(t.slack_webhook_url)) for t in teams],
            "signing_secret_set": bool(settings.SLACK_SIGNING_SECRET),
            "interactions_url": request.build_absolute_uri(reverse("budgets:slack_interactions")),
        },
    )
