"""The web answer to a decision on a key request or a bump: approve, reject (with a reason) and cancel, and to
any other state change of a request made from its page (retrying a mint).

Both approval pages (allocator.views.approvals for key requests, budgets.views.bumps for bumps) call these, so a
decision reads the same everywhere: allocator.approvals decides; an htmx post gets the page's own partial (the row,
and the "N waiting" count out of band, so the page stays true after each decision); a plain post gets a message and
goes back to `next` (same site only) or the request's page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.permissions import Access
from allocator import approvals as approval_services
from allocator.forms import RejectForm
from allocator.models import ApprovalRequest, InvalidTransition
from allocator.redirects import redirect_next


def decision_respond(
    request: HttpRequest,
    *,
    approval_request: ApprovalRequest,
    decision: str,
    partial: Callable[[ApprovalRequest, dict[str, Any]], HttpResponse],
    done: Callable[[ApprovalRequest], str],
) -> HttpResponse:
    """Approve or reject from a page. `partial(request_obj, context)` renders the htmx answer (context has
    `decided`, `error` and `waiting`); `done(request_obj)` is the success message of a plain post. Not this
    person's to decide is a 403 (PermissionDenied propagates)."""
    error = ""
    try:
        reason = ""
        if decision == "reject":
            form = RejectForm(request.POST)
            if not form.is_valid():
                raise InvalidTransition(form.error_text())
            reason = form.cleaned_data["reason"]
        approval_request = approval_services.approval_decide(
            approval_request=approval_request, by=request.user, decision=decision, reason=reason
        )
    except InvalidTransition as e:
        error = str(e)
    if request.htmx:
        model = type(approval_request)
        waiting = Access.for_request(request).approvable(model.objects.filter(state=model.State.PENDING)).count()
        return partial(approval_request, {"decided": not error, "error": error, "waiting": waiting})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done(approval_request))
    return redirect_next(request, approval_request.get_absolute_url())


def decision_views(
    *,
    fetch: Callable[[HttpRequest, int], ApprovalRequest],
    partial: Callable[[HttpRequest, int, dict[str, Any]], HttpResponse],
    done: Callable[[ApprovalRequest], str],
) -> tuple[Callable[..., HttpResponse], Callable[..., HttpResponse]]:
    """A page's approve and reject views (POST, signed in): `fetch(request, pk)` finds the request the person may
    see, `partial(request, pk, context)` renders the page's htmx answer, `done(request_obj)` is the message."""

    def view(decision: str) -> Callable[..., HttpResponse]:
        @login_required
        @require_POST
        def decide(request: HttpRequest, pk: int) -> HttpResponse:
            return decision_respond(
                request,
                approval_request=fetch(request, pk),
                decision=decision,
                partial=lambda _, context: partial(request, pk, context),
                done=done,
            )

        decide.__name__ = decide.__qualname__ = decision
        return decide

    return view("approve"), view("reject")


def transition_respond(
    request: HttpRequest, *, target: Any, change: Callable[[], object], success: str
) -> HttpResponse:
    """Run one state change of `target` (cancel, retry a mint), then back to its page with a message either way:
    `success`, or the `InvalidTransition` as it is worded."""
    try:
        change()
        messages.success(request, success)
    except InvalidTransition as error:
        messages.error(request, str(error))
    return redirect(target.get_absolute_url())


def cancel_respond(request: HttpRequest, *, approval_request: ApprovalRequest) -> HttpResponse:
    """The requester withdraws an open request."""
    return transition_respond(
        request,
        target=approval_request,
        change=lambda: approval_services.approval_cancel(approval_request=approval_request, by=request.user),
        success="Request cancelled.",
    )
