"""Chargeback pages: the quarter's chargeback (finance everything, managers their teams), its exports, closing a
quarter, Stripe customers and invoices, and Stripe's webhook."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import CostCenter
from accounts.permissions import Access
from allocator.quarters import Quarter
from budgets.reports import downloads, stripe_invoices
from budgets.reports.chargeback import chargeback_lines, chargeback_summary, closed_quarters
from budgets.reports.close import close_problem, quarter_close
from budgets.reports.downloads import FORMATS
from budgets.reports.models import StripeCustomer, StripeInvoice

log = logging.getLogger(__name__)


def _require_chargeback(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not access.sees_chargeback:
        raise PermissionDenied
    return access


def _require_finance(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not access.is_finance:
        raise PermissionDenied
    return access


def _page_url(quarter: Quarter) -> str:
    return reverse("budgets:chargeback") + f"?quarter={quarter}"


def _stripe_panel(quarter: Quarter) -> dict:
    centers = list(CostCenter.objects.order_by("code"))
    customers = {m.cost_center_id: m.customer_id for m in StripeCustomer.objects.all()}
    invoices = {i.cost_center_id: i for i in StripeInvoice.objects.filter(quarter=quarter.name)}
    rows = [{"cc": cc, "customer_id": customers.get(cc.pk, ""), "invoice": invoices.get(cc.pk)} for cc in centers]
    return {"stripe_rows": rows, "stripe_configured": stripe_invoices.stripe_configured()}


@login_required
def chargeback(request: HttpRequest) -> HttpResponse:
    access = _require_chargeback(request)
    quarter = Quarter.from_param(request.GET.get("quarter"))
    closed = closed_quarters()
    team_ids = access.chargeback_team_ids()
    summary = chargeback_summary(chargeback_lines(quarter=quarter, team_ids=team_ids, closed=closed), quarter=quarter)
    context = {
        "quarter": quarter,
        "summary": summary,
        "totals": summary.totals,
        "close": closed.get(quarter.name),
        "finance_view": team_ids is None,
        "can_close": access.is_finance and close_problem(quarter) is None,
        "is_current": quarter == Quarter.current(),
        "formats": [("csv", "CSV"), ("focus", "FOCUS 1.3 CSV"), ("xlsx", "Excel (XLSX)")],
    }
    if access.is_finance:
        context.update(_stripe_panel(quarter))
    return render(request, "budgets/reports/chargeback.html", context)


@login_required
def chargeback_export(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    access = _require_chargeback(request)
    if fmt not in FORMATS:
        raise Http404
    quarter = Quarter.from_param(request.GET.get("quarter"))
    export = downloads.chargeback_export(
        fmt=fmt, quarter=quarter, by=request.user, team_ids=access.chargeback_team_ids()
    )
    response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


@login_required
def chargeback_close(request: HttpRequest) -> HttpResponse:
    """Confirmation page listing what freezes; POST closes the quarter."""
    _require_finance(request)
    quarter = Quarter.from_param(request.POST.get("quarter") or request.GET.get("quarter"))
    if request.method == "POST":
        try:
            quarter_close(quarter=quarter, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"{quarter} is closed: its chargeback is frozen and its budgets read-only.")
        return redirect(_page_url(quarter))
    closed = closed_quarters()
    summary = chargeback_summary(chargeback_lines(quarter=quarter, closed=closed), quarter=quarter)
    context = {"quarter": quarter, "summary": summary, "totals": summary.totals, "problem": close_problem(quarter)}
    return render(request, "budgets/reports/close.html", context)


@login_required
@require_POST
def chargeback_customers(request: HttpRequest) -> HttpResponse:
    """Finance maps cost centers to Stripe customers (typed ids, or one created at Stripe)."""
    _require_finance(request)
    quarter = Quarter.from_param(request.POST.get("quarter"))
    try:
        if create := request.POST.get("create"):
            cost_center = CostCenter.objects.filter(pk=int(create) if create.isdigit() else 0).first()
            if cost_center is None:
                raise Http404
            stripe_invoices.stripe_customer_create(cost_center=cost_center, by=request.user)
            messages.success(request, f"Created a Stripe customer for {cost_center}.")
        else:
            current = {m.cost_center_id: m.customer_id for m in StripeCustomer.objects.all()}
            for cost_center in CostCenter.objects.all():
                typed = request.POST.get(f"customer_{cost_center.pk}")
                if typed is not None and typed.strip() != current.get(cost_center.pk, ""):
                    stripe_invoices.stripe_customer_set(cost_center=cost_center, customer_id=typed, by=request.user)
            messages.success(request, "Stripe customers saved.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except stripe_invoices.StripeProblem as error:
        messages.error(request, str(error))
    return redirect(_page_url(quarter) + "#stripe")


@login_required
@require_POST
def chargeback_invoice(request: HttpRequest) -> HttpResponse:
    _require_finance(request)
    quarter = Quarter.from_param(request.POST.get("quarter"))
    try:
        done = stripe_invoices.quarter_invoice(quarter=quarter, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except stripe_invoices.StripeProblem as error:
        messages.error(request, str(error))
    else:
        if done:
            messages.success(request, f"Finalized {len(done)} invoice{'s' if len(done) != 1 else ''} at Stripe.")
        else:
            messages.info(request, "Nothing new to invoice: every mapped cost center already has its invoice.")
    return redirect(_page_url(quarter) + "#stripe")


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's invoice events (see budgets.reports.stripe_invoices for the checks)."""
    signature = request.headers.get("Stripe-Signature", "")
    try:
        event = stripe_invoices.stripe_event_verify(payload=request.body, signature=signature)
    except stripe_invoices.WebhookRefused as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    outcome = stripe_invoices.stripe_event_apply(event)
    log.info("Stripe event %s (%s): %s", event["id"], event["type"], outcome)
    return HttpResponse(outcome, content_type="text/plain")
