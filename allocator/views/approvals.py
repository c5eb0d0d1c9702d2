"""The approvals page and the approve / reject decisions on key requests (views made by allocator.decisions)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import Access
from allocator.decisions import decision_views
from allocator.forms import RejectForm
from allocator.key_requests import key_requests_owner_budgets
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
    context = {
        "pending": pending,
        "owner_budget_lines": key_requests_owner_budgets(key_requests=pending),
        "waiting": len(pending),
        "recent": recent,
        "reject_form": RejectForm(),
    }
    return render(request, "allocator/approvals.html", context)


def _decided_row(request: HttpRequest, pk: int, context: dict) -> HttpResponse:
    context = {**context, "kr": get_request_for_user(request, pk), "reject_form": RejectForm()}
    return render(request, "allocator/approvals.html#decided", context)


request_approve, request_reject = decision_views(
    fetch=get_request_for_user,
    partial=_decided_row,
    done=lambda kr: f"Request “{kr.name}” approved: minting is queued."
    if kr.state == kr.State.APPROVED
    else f"Request “{kr.name}” {kr.get_state_display().lower()}.",
)
