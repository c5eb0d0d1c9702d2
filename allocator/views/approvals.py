"""The approvals page and the approve / reject decisions on key requests."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.permissions import Access
from allocator import approvals as approval_services
from allocator.forms import RejectForm
from allocator.models import (
    InvalidTransition,
    KeyRequest,
)
from allocator.redirects import redirect_next
from allocator.views.key_requests import get_request_for_user


@login_required
def approvals(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    if not (access.is_manager or access.sees_everything):
        raise PermissionDenied
    pending = access.approvable(
        KeyRequest.objects.filter(state=KeyRequest.State.PENDING).select_related(
            "requester", "account", "team", "project"
        )
    ).order_by("created_at")
    pending = list(pending)
    recent = access.visible(KeyRequest.objects.exclude(state=KeyRequest.State.PENDING), user="requester")
    recent = recent.select_related("requester", "account", "decided_by").order_by("-updated_at")[:10]
    context = {"pending": pending, "waiting": len(pending), "recent": recent, "reject_form": RejectForm()}
    return render(request, "allocator/approvals.html", context)


def _decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    key_request = get_request_for_user(request, pk)
    error = ""
    try:
        if decision == "approve":
            key_request = approval_services.approval_approve(approval_request=key_request, by=request.user)
        else:
            form = RejectForm(request.POST)
            if not form.is_valid():
                raise InvalidTransition(form.error_text())
            key_request = approval_services.approval_reject(
                approval_request=key_request, by=request.user, reason=form.cleaned_data["reason"]
            )
    except PermissionDenied:
        raise
    except InvalidTransition as e:
        error = str(e)
    if request.htmx:
        key_request.refresh_from_db()
        # The row, and the "N waiting" count out of band, so the page stays true after each decision.
        waiting = Access.for_request(request).approvable(KeyRequest.objects.filter(state=KeyRequest.State.PENDING))
        context = {"kr": key_request, "decided": not error, "error": error, "waiting": waiting.count()}
        return render(request, "allocator/approvals.html#decided", {**context, "reject_form": RejectForm()})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Request “{key_request.name}” {key_request.get_state_display().lower()}.")
    return redirect_next(request, key_request.get_absolute_url())


@login_required
@require_POST
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "approve")


@login_required
@require_POST
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "reject")
