"""The approvals page and the approve / reject decisions on key requests."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.permissions import Access
from allocator.decisions import decision_respond
from allocator.forms import RejectForm
from allocator.models import KeyRequest
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
    def partial(key_request: KeyRequest, context: dict) -> HttpResponse:
        key_request.refresh_from_db()
        context = {**context, "kr": key_request, "reject_form": RejectForm()}
        return render(request, "allocator/approvals.html#decided", context)

    return decision_respond(
        request,
        approval_request=get_request_for_user(request, pk),
        decision=decision,
        partial=partial,
        done=lambda kr: f"Request “{kr.name}” {kr.get_state_display().lower()}.",
    )


@login_required
@require_POST
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "approve")


@login_required
@require_POST
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "reject")
