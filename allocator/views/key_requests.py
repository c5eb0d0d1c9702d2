"""Key request pages: ask for a key (with inline validation), one request, its minting status, cancel, retry."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.permissions import Access, get_visible_or_404
from accounts.timeline import timeline
from allocator import approvals as approval_services
from allocator import key_requests as key_request_services
from allocator.decisions import cancel_respond, transition_respond
from allocator.forms import KeyRequestForm, RejectForm
from allocator.models import (
    Key,
    KeyRequest,
    Policy,
)

# --- key requests -----------------------------------------------------------------------------------


@login_required
def request_create(request: HttpRequest) -> HttpResponse:
    template = "allocator/request_form.html"
    form = KeyRequestForm(request.POST or None, user=request.user)
    if request.method == "POST" and request.htmx and "submit" not in request.POST:
        # Inline validation while the person fills the form: errors only for fields they touched; nothing saved.
        form.is_valid()
        for field in list(form.errors):
            if field != "__all__" and not request.POST.get(field):
                del form.errors[field]
        return render(request, template + "#form", {"form": form, "validating": True})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            key_request = key_request_services.key_request_create(
                requester=request.user,
                account=data["account"],
                team=data["team"],
                project=data["project"],
                name=data["name"],
                purpose=data["purpose"],
                allowance_usd=data["allowance_usd"],
                expires_on=data["expires_on"],
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if key_request.auto_approved:
                messages.success(request, "Approved automatically by policy. Your key is being minted now.")
            else:
                messages.success(request, "Request sent. Your manager has been notified.")
            if request.htmx:
                return HttpResponseClientRedirect(key_request.get_absolute_url())
            return redirect(key_request.get_absolute_url())
    if request.htmx:
        template += "#form"
    policy = Policy.current()
    return render(request, template, {"form": form, "policy": policy})


def get_request_for_user(request: HttpRequest, pk: int) -> KeyRequest:
    return get_visible_or_404(
        request, KeyRequest.objects.select_related("account", "requester", "team", "project"), pk=pk
    )


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key_request = get_request_for_user(request, pk)
    access = Access.for_request(request)
    key = Key.objects.filter(request=key_request).first()
    return render(
        request,
        "allocator/request_detail.html",
        {
            "kr": key_request,
            "key": key,
            "timeline": timeline(key_request, key),
            "can_approve": approval_services.approval_may_decide(approval_request=key_request, by=request.user),
            "can_owner": access.can_act_as_owner(key_request),
            "reject_form": RejectForm(),
        },
    )


@login_required
@require_POST
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return cancel_respond(request, approval_request=get_request_for_user(request, pk))


@login_required
@require_POST
def request_retry(request: HttpRequest, pk: int) -> HttpResponse:
    key_request = get_request_for_user(request, pk)
    return transition_respond(
        request,
        target=key_request,
        change=lambda: key_request_services.key_request_retry(key_request=key_request, by=request.user),
        success="Minting again. This page updates when the key is ready.",
    )


@login_required
def request_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Polled by htmx while a request is being minted."""
    key_request = get_request_for_user(request, pk)
    key = Key.objects.filter(request=key_request).first()
    return render(request, "allocator/request_detail.html#status", {"kr": key_request, "key": key})
