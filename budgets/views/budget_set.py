"""Finance sets cost-center and team budgets (inline on the overview or a small form) and copies last quarter."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import trigger_client_event

from accounts.models import CostCenter, Team
from accounts.permissions import Access
from allocator.quarters import Quarter
from budgets import allocation as allocation_services
from budgets.forms import AmountForm
from budgets.models import Budget, Scope, scope_key
from budgets.views.overview import overview_numbers


@login_required
def budget_set(request: HttpRequest) -> HttpResponse:
    """Finance sets a cost-center or team budget. htmx: inline row edit on the overview; else a small form page."""
    access = Access.for_request(request)
    if not access.is_finance:
        raise PermissionDenied
    quarter = Quarter.from_param(request.POST.get("quarter") or request.GET.get("quarter"))
    target = _scope_target(request)
    if target is None:
        return _set_page(request, quarter)
    scope, obj = target
    key = scope_key(scope, obj.pk)
    budget = Budget.objects.filter(quarter=quarter.name, scope=scope, **{f"{scope}_id": obj.pk}).first()
    error = ""
    if request.method == "POST":
        form = AmountForm(request.POST)
        if request.POST.get("cancel") is None and form.is_valid():
            try:
                budget = allocation_services.budget_set(
                    by=request.user,
                    quarter=quarter,
                    amount_usd=form.cleaned_data["amount_usd"],
                    hard=form.cleaned_data["hard"],
                    **{scope: obj},
                )
            except ValidationError as e:
                error = " ".join(e.messages)
            else:
                if not request.htmx:
                    messages.success(request, f"{budget.scope_title}: ${budget.amount_usd:,} in {quarter}.")
                    return redirect(reverse("budgets:overview") + f"?quarter={quarter}")
        elif request.POST.get("cancel") is None:
            error = form.error_text()
        if request.htmx and (error == "" or request.POST.get("cancel") is not None):
            return _saved_row(request, quarter, key, cancelled=request.POST.get("cancel") is not None)
    initial = {
        "amount_usd": budget.amount_usd if budget else None,
        "hard": "1" if (budget is None or budget.hard) else "0",
    }
    form = (
        AmountForm(request.POST or None, initial=initial) if request.method == "POST" else AmountForm(initial=initial)
    )
    context = {"scope": scope, "obj": obj, "budget": budget, "form": form, "error": error, "quarter": quarter}
    context["row_id"] = key.replace(":", "-")
    if request.htmx:
        return render(request, "budgets/overview.html#budget_edit", context)
    return render(request, "budgets/set.html", {**context, "single": True})


def _saved_row(request: HttpRequest, quarter: Quarter, key: str, *, cancelled: bool) -> HttpResponse:
    """The row again; after a save also the summary and the parent cost center's row (out of band), so that
    the totals, the split column and "needs attention" stay true without reloading the page."""
    context = overview_numbers(Access.for_request(request), quarter)
    rows = {r.key: r for r in context["rows"]}
    row = rows[key]
    if cancelled:
        return render(request, "budgets/overview.html#budget_row", {"row": row, "quarter": quarter, "can_set": True})
    parent = rows.get(scope_key(Scope.COST_CENTER, row.obj.cost_center_id)) if row.scope == Scope.TEAM else None
    context.update(row=row, parent_row=parent, can_set=True)
    return trigger_client_event(render(request, "budgets/overview.html#saved", context), "budget-changed")


def _scope_target(request: HttpRequest) -> tuple[str, Any] | None:
    data = request.POST if request.method == "POST" else request.GET
    picked, _, picked_id = data.get("scope_pick", "").partition("=")  # the plain form's "team=3" choice
    for scope, model in ((Scope.COST_CENTER, CostCenter), (Scope.TEAM, Team)):
        raw = data.get(scope) or (picked_id if picked == scope else "")
        if raw:
            try:
                return scope, model.objects.get(pk=int(raw))
            except (ValueError, OverflowError, model.DoesNotExist):
                return None
    return None


def _set_page(request: HttpRequest, quarter: Quarter) -> HttpResponse:
    """The full form: pick a cost center or team, amount and kind (without JavaScript)."""
    scopes = [(f"cost_center={cc.pk}", f"Cost center {cc}") for cc in CostCenter.objects.all()] + [
        (f"team={t.pk}", f"Team {t} ({t.cost_center.code})") for t in Team.objects.select_related("cost_center")
    ]
    return render(request, "budgets/set.html", {"quarter": quarter, "scopes": scopes, "form": AmountForm()})


@login_required
def copy_previous(request: HttpRequest) -> HttpResponse:
    """Finance copies last quarter's budgets into this one (confirmation first; existing budgets are kept)."""
    if not Access.for_request(request).is_finance:
        raise PermissionDenied
    quarter = Quarter.from_param(request.POST.get("quarter") or request.GET.get("quarter"))
    previous = quarter.previous()
    if request.method == "POST":
        try:
            count = allocation_services.budgets_copy_from_previous_quarter(quarter=quarter, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect(reverse("budgets:overview") + f"?quarter={quarter}")
        messages.success(request, f"Copied {count} budget{'s' if count != 1 else ''} from {previous} into {quarter}.")
        return redirect(reverse("budgets:overview") + f"?quarter={quarter}")
    source = Budget.objects.filter(quarter=previous.name)
    taken = {b.scope_key for b in Budget.objects.filter(quarter=quarter.name)}
    to_copy = [b for b in source.select_related("cost_center", "team", "project", "user") if b.scope_key not in taken]
    return render(
        request,
        "budgets/copy.html",
        {
            "quarter": quarter,
            "previous": previous,
            "to_copy": to_copy,
            "kept": len(taken),
            "source_count": source.count(),
        },
    )
