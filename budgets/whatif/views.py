"""Concentration and what-if pages (finance and admins everything; managers their teams). Read-only."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import Access
from allocator.quarters import Quarter
from budgets.reports.exports import Echo
from budgets.whatif.concentration import concentration as concentration_of
from budgets.whatif.forms import WhatIfForm
from budgets.whatif.report import PAGE_ROWS, WhatIf, provider_name, visible_org, what_if_csv
from budgets.whatif.report import what_if as what_if_of
from budgets.whatif.repricing import Prices


def _access(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not access.sees_chargeback:
        raise PermissionDenied("Concentration and what-ifs are for managers, finance and admins.")
    return access


@login_required
@require_GET
def concentration(request: HttpRequest) -> HttpResponse:
    access = _access(request)
    quarter = Quarter.from_param(request.GET.get("quarter"))
    report = concentration_of(quarter=quarter, team_ids=access.chargeback_team_ids())
    context = {"report": report, "quarter": quarter, "is_current": quarter == Quarter.current(),
               "all_teams": access.chargeback_team_ids() is None}  # fmt: skip
    return render(request, "budgets/concentration.html", context)


@login_required
@require_GET
def what_if(request: HttpRequest) -> HttpResponse:
    access = _access(request)
    team_ids = access.chargeback_team_ids()
    teams, projects = visible_org(team_ids)
    prices = Prices()
    form = WhatIfForm(request.GET, teams=teams, projects=projects, prices=prices)  # every field optional
    report = None
    if form.is_valid():
        scenario = form.scenario()
        names = {"shift_scope": form.scope_name(), "price_provider": provider_name(scenario.price_provider)}
        if scenario.shift_target:
            names["shift_provider"] = provider_name(scenario.shift_target[0])
        report = what_if_of(scenario=scenario, teams=teams, projects=projects, prices=prices, team_ids=team_ids,
                            names=names)  # fmt: skip
        form.set_targets(report.targets)
        if request.GET.get("format") == "csv":
            return _csv(report)
    else:
        form.set_targets([])
    template = "budgets/what_if.html"
    if request.htmx:
        template += "#results"
    context = {"form": form, "report": report, "query": request.GET.urlencode(), "page_rows": f":{PAGE_ROWS}",
               "page_rows_count": PAGE_ROWS}  # fmt: skip
    return render(request, template, context)


def _csv(report: WhatIf) -> StreamingHttpResponse:
    writer = csv.writer(Echo())
    rows = (writer.writerow(row) for row in what_if_csv(report))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    scenario = report.scenario
    response["Content-Disposition"] = f'attachment; filename="what-if-{scenario.start}-{scenario.last_day}.csv"'
    return response
