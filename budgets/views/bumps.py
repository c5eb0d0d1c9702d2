"""Budget bumps: ask for more, one bump, and the approve / reject / cancel decisions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.permissions import Access, get_visible_or_404
from accounts.timeline import timeline
from allocator import approvals as approval_services
from allocator.decisions import cancel_respond, decision_views
from allocator.models import Key, Policy
from allocator.quarters import Quarter
from budgets import bumps as bump_services
from budgets.forecast import FORECAST_METHOD
from budgets.forms import BumpForm
from budgets.models import Budget, BudgetRequest, Scope
from budgets.spend import daily_spend
from budgets.tables import burndown, with_bump_numbers
from budgets.templatetags.budget_panels import my_bumps


@login_required
def bump_create(request: HttpRequest) -> HttpResponse:
    """Ask for more: one form (a budget or a key's allowance, amount, reason). Reachable from home and from a
    suspension notice (`?key=<id>` preselects what suspended the key, else the key's allowance)."""
    template = "budgets/bump_form.html"
    initial: dict[str, Any] = {}
    if raw := request.GET.get("budget"):
        initial["budget"] = raw
    elif raw := request.GET.get("key"):
        initial.update(_target_for_key(request, raw))
    form = BumpForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            bump = bump_services.budget_request_create(
                requester=request.user, amount_usd=data["amount_usd"], reason=data["reason"], **form.target()
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if bump.auto_approved:
                text = f"Approved automatically by policy: +${bump.amount_usd:,} on {bump.target_label}."
            else:
                text = f"Request sent: the {bump.get_awaiting_step_display().lower()} decides. You'll be notified."
            if request.htmx and request.POST.get("inline"):
                context = {"bump": bump, "text": text, "my_bumps": my_bumps(request.user)}
                return render(request, "budgets/_home.html#quick_done", context)
            messages.success(request, text)
            if request.htmx:
                return HttpResponseClientRedirect(bump.get_absolute_url())
            return redirect(bump.get_absolute_url())
    if request.htmx and request.POST.get("inline"):
        return render(request, "budgets/_home.html#quick_form", {"quick_form": form, "budget_quick_default": None})
    policy = Policy.current()
    return render(request, template, {"form": form, "policy": policy, "has_budgets": form.has_targets})


def _target_for_key(request: HttpRequest, raw: str) -> dict[str, Any]:
    """Preselect what suspended this key: its budget, or (spent allowance, or no suspension) the key's allowance."""
    try:
        key = get_visible_or_404(request, Key.objects.select_related("enforcement"), pk=int(raw))
    except (ValueError, OverflowError, Http404):  # a bad link just preselects nothing
        return {}
    state = getattr(key, "enforcement", None)
    scope, _, pk = (state.scope_key if state is not None else "").partition(":")
    if pk.isdigit() and scope in Scope.values:
        quarter = Quarter.current().name
        budget = Budget.objects.filter(quarter=quarter, scope=scope, **{f"{scope}_id": int(pk)}).first()
        return {"budget": str(budget.pk)} if budget else {}
    return {"budget": f"key:{key.pk}"}


def _get_bump_for_user(request: HttpRequest, pk: int) -> BudgetRequest:
    return get_visible_or_404(
        request,
        BudgetRequest.objects.select_related(
            "requester",
            "team",
            "budget__team",
            "budget__project",
            "budget__user",
            "budget__cost_center",
            "key",
            "decided_by",
        ),
        pk=pk,
    )


@login_required
def bump_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bump = _get_bump_for_user(request, pk)
    access = Access.for_request(request)
    numbers = with_bump_numbers([bump])[bump.target.quarter]
    target = bump.target  # the budget, or the key's allowance
    quarter = Quarter.parse(target.quarter)
    daily = daily_spend(budget=target, start=quarter.start, end=quarter.end)
    earlier = bump.budget.requests if bump.budget_id is not None else bump.key.allowance_requests
    return render(
        request,
        "budgets/bump_detail.html",
        {
            "bump": bump,
            "budget": target,
            "quarter": quarter,
            "chart": burndown(target, numbers, target.scope_key, bump.fc, daily),
            "history": earlier.exclude(pk=bump.pk).select_related("requester", "decided_by")[:10],
            "timeline": timeline(bump, bump.budget or bump.key, newest_first=True, limit=30),
            "can_approve": approval_services.approval_may_decide(approval_request=bump, by=request.user),
            "can_cancel": access.can_act_as_owner(bump) and bump.state == BudgetRequest.State.PENDING,
            "forecast_method": FORECAST_METHOD,
        },
    )


def _decided_row(request: HttpRequest, pk: int, context: dict) -> HttpResponse:
    bump = _get_bump_for_user(request, pk)
    with_bump_numbers([bump])
    return render(request, "budgets/_bump_approvals.html#decided", {**context, "bump": bump})


bump_approve, bump_reject = decision_views(
    fetch=_get_bump_for_user,
    partial=_decided_row,
    done=lambda bump: f"Budget request #{bump.pk}: {bump.get_state_display().lower()}.",
)


@login_required
@require_POST
def bump_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return cancel_respond(request, approval_request=_get_bump_for_user(request, pk))
