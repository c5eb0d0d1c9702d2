"""The alerts page and re-queuing an alert that failed."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import Access, get_visible_or_404
from allocator.redirects import redirect_next
from budgets import alerts as alert_services
from budgets.models import Alert, BudgetPolicy


@login_required
def alert_list(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    alerts = access.visible(Alert.objects.all(), user="user").select_related("team", "user", "key")
    kind, status = request.GET.get("kind", ""), request.GET.get("status", "")
    if kind in Alert.Kind.values:
        alerts = alerts.filter(kind=kind)
    if status in Alert.Status.values:
        alerts = alerts.filter(status=status)
    else:
        alerts = alerts.exclude(status=Alert.Status.SKIPPED)
    page = Paginator(alerts, 40).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    policy = BudgetPolicy.current()
    return render(
        request,
        "budgets/alerts.html",
        {
            "page": page,
            "kind": kind,
            "status": status,
            "kinds": Alert.Kind.choices,
            "statuses": Alert.Status.choices,
            "query": query.urlencode(),
            "can_retry": access.sees_everything or access.is_manager,
            "is_admin": access.is_admin,
            "policy": policy,
            "finance_webhook": bool(policy.finance_slack_webhook_url),
        },
    )


@login_required
@require_POST
def alert_retry(request: HttpRequest, pk: int) -> HttpResponse:
    access = Access.for_request(request)
    alert = get_visible_or_404(request, Alert.objects.all(), pk=pk)
    if not (access.sees_everything or (alert.team_id and alert.team_id in access.managed_team_ids)):
        raise PermissionDenied
    alert_services.alert_retry(alert=alert, by=request.user)
    messages.success(request, "The alert is queued again.")
    return redirect_next(request, reverse("budgets:alerts"))
