"""Deciding a provider's spend-limit increase request from the approvals inbox: approve with an amount, or deny with
a reason. Both go through allocator.approvals (the same rules as key requests and bumps)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import Access, get_visible_or_404
from allocator import approvals as approval_services
from allocator.forms import RejectForm
from allocator.models import InvalidTransition
from allocator.money import MoneyField
from allocator.redirects import redirect_next
from budgets.increase_requests import increase_request_approve
from budgets.models import SpendLimitRequest


class IncreaseApproveForm(forms.Form):
    amount_usd = MoneyField(label="Allow (USD)", required=False, min_value="0.01")


def _get(request: HttpRequest, pk: int) -> SpendLimitRequest:
    visible = Access.for_request(request).visible(SpendLimitRequest.objects.select_related("account"), user="requester")
    return get_visible_or_404(request, visible, pk=pk)


def _back(request: HttpRequest) -> HttpResponse:
    return redirect_next(request, reverse("allocator:approvals"))


@login_required
@require_POST
def increase_approve(request: HttpRequest, pk: int) -> HttpResponse:
    increase = _get(request, pk)
    form = IncreaseApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("amount_usd", ["Enter an amount."])))
        return _back(request)
    try:
        increase = increase_request_approve(
            request=increase, by=request.user, amount_usd=form.cleaned_data["amount_usd"]
        )
    except InvalidTransition as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Approved: {increase.requester_label} may spend ${increase.approved_amount_usd}.")
    return _back(request)


@login_required
@require_POST
def increase_reject(request: HttpRequest, pk: int) -> HttpResponse:
    increase = _get(request, pk)
    form = RejectForm(request.POST)
    try:
        if not form.is_valid():
            raise InvalidTransition(form.error_text())
        approval_services.approval_reject(
            approval_request=increase, by=request.user, reason=form.cleaned_data["reason"]
        )
    except InvalidTransition as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Denied: the request of {increase.requester_label}.")
    return _back(request)
