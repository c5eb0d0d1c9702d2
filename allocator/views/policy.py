"""The policy page (admin): approval limits, secrets and usage settings (allocator.models.Policy) and, on the
same form, how budgets are alerted and enforced (budgets.models.BudgetPolicy)."""

from __future__ import annotations

import calendar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.models import AuditEvent, User
from accounts.permissions import require_admin
from allocator.forms import PolicyForm
from allocator.models import Policy
from allocator.quarters import Quarter
from budgets.forms import BudgetPolicyForm
from budgets.models import BudgetPolicy


@transaction.atomic
def _save(forms: list[ModelForm], *, by: User) -> None:
    """Save both rows together; each row that changed gets its own audit event naming what changed."""
    for form in forms:
        # Compared with the stored row, not the typed text: "90, 60" over a stored [60, 90] is no change.
        stored = type(form.instance).objects.select_for_update().get(pk=form.instance.pk)
        changed = {f: str(value) for f, value in form.cleaned_data.items() if getattr(stored, f) != value}
        saved = form.save(commit=False)
        saved.updated_by = by
        saved.save()
        if changed or isinstance(saved, Policy):  # Policy is audited on every save, as it always was
            AuditEvent.record("policy.changed", actor=by, target=saved, **changed)


@login_required
def policy(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    current, budget_policy = Policy.current(), BudgetPolicy.current()
    form = PolicyForm(request.POST or None, instance=current)
    budget_form = BudgetPolicyForm(request.POST or None, instance=budget_policy)
    if request.method == "POST":
        if all([form.is_valid(), budget_form.is_valid()]):  # both validated: every mistake is shown at once
            _save([form, budget_form], by=request.user)
            messages.success(request, "Policy saved.")
            return redirect("allocator:policy")
        messages.error(request, "Nothing was saved: correct the fields marked below.")
    approvals, secrets = form.sections()
    return render(
        request,
        "allocator/policy.html",
        {
            "form": form,
            "budget_form": budget_form,
            "sections": [approvals, *budget_form.sections(), secrets],
            "policy": current,
            "budget_policy": budget_policy,
            "fiscal_start": calendar.month_name[Quarter.start_month()],
            "quarter": Quarter.current(),
        },
    )
