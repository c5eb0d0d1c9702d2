"""Capacity pages: the headroom table (managers, finance, admins), one limiter's chart, recording a limit (admins)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.permissions import Access, require_admin
from allocator.capacity.alerts import CAPACITY_SCOPE
from allocator.capacity.chart import capacity_chart
from allocator.capacity.forms import LimitForm
from allocator.capacity.headroom import CHART_DAYS, headroom_detail, headroom_rows
from allocator.capacity.limits import LimitInputError, limit_record, limit_remove
from allocator.capacity.models import CapacityRead, RateLimitRecord, ThrottleHint
from allocator.models import ProviderAccount
from budgets.models import Alert, BudgetPolicy

HINT_DAYS = 7


def _require_reader(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not access.sees_capacity:
        raise PermissionDenied
    return access


def _get_limit(pk: int) -> RateLimitRecord:
    try:
        return RateLimitRecord.objects.select_related("account", "recorded_by").get(pk=pk)
    except RateLimitRecord.DoesNotExist as e:
        raise Http404 from e


@login_required
def capacity_headroom(request: HttpRequest) -> HttpResponse:
    access = _require_reader(request)
    today = timezone.now().date()
    rows = headroom_rows(today=today)
    context = {
        "rows": rows,
        "limits": RateLimitRecord.objects.select_related("account", "recorded_by"),
        "reads": CapacityRead.objects.select_related("account").order_by("account__name"),
        "hints": ThrottleHint.objects.filter(day__gte=today - timedelta(days=HINT_DAYS)).select_related("account"),
        "alerts": Alert.objects.filter(scope=CAPACITY_SCOPE).order_by("-created_at")[:5],
        "has_accounts": ProviderAccount.objects.filter(enabled=True).exists(),
        "is_admin": access.is_admin,
        "hint_days": HINT_DAYS,
        "alert_percent": BudgetPolicy.current().capacity_percent,
    }
    return render(request, "capacity/headroom.html", context)


@login_required
def capacity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = _require_reader(request)
    limit = _get_limit(pk)
    today = timezone.now().date()
    row = headroom_detail(limit, today=today)
    context = {
        "row": row,
        "limit": limit,
        "chart": capacity_chart(row, today=today),
        "chart_days": CHART_DAYS,
        "is_admin": access.is_admin,
    }
    return render(request, "capacity/detail.html", context)


@login_required
def capacity_limit_record(request: HttpRequest) -> HttpResponse:
    require_admin(request)
    form = LimitForm(request.POST or None, initial=request.GET.dict() if request.method == "GET" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            record = limit_record(
                account=data["account"],
                model=data["model"],
                dimension=data["dimension"],
                value=data["value"],
                note=data["note"],
                scope=data["scope"],
                by=request.user,
            )
        except LimitInputError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Recorded: {record}.")
            return redirect(record.get_absolute_url())
    if request.method == "POST":
        messages.error(request, "Nothing was saved: correct the fields marked below.")
    return render(request, "capacity/limit_form.html", {"form": form})


@login_required
@require_POST
def capacity_limit_remove(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request)
    record = _get_limit(pk)
    try:
        limit_remove(record=record, by=request.user)
    except LimitInputError as error:
        messages.error(request, str(error))
        return redirect(record.get_absolute_url())
    messages.success(request, "Removed the limit recorded by hand.")
    return redirect("capacity:headroom")
