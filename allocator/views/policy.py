"""The policy page (admin): approval limits, alert thresholds, secrets and usage settings."""

from __future__ import annotations

import calendar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.models import AuditEvent
from accounts.permissions import require_admin
from allocator.forms import PolicyForm
from allocator.models import (
    Policy,
)
from allocator.quarters import Quarter


@login_required
def policy(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    current = Policy.current()
    form = PolicyForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        changed = {f: str(form.cleaned_data[f]) for f in form.changed_data}
        saved = form.save(commit=False)
        saved.updated_by = request.user
        saved.save()
        AuditEvent.record("policy.changed", actor=request.user, target=saved, **changed)
        messages.success(request, "Policy saved.")
        return redirect("allocator:policy")
    fiscal_start = calendar.month_name[Quarter.start_month()]
    return render(
        request,
        "allocator/policy.html",
        {"form": form, "policy": current, "fiscal_start": fiscal_start, "quarter": Quarter.current()},
    )
