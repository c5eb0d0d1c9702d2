"""The audit log page and its CSV export (same filters; the export streams, so its size has no limit)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, time

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.forms import AuditFilterForm
from accounts.models import AuditEvent
from accounts.permissions import Access

CSV_COLUMNS = ["when_utc", "actor", "action", "label", "target_type", "target_id", "target", "details"]
# A cell starting with one of these is a formula to a spreadsheet: quote it so an exported value never runs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _require_auditor(request: HttpRequest) -> None:
    if not Access.for_request(request).sees_everything:
        raise PermissionDenied


def audit_events_filtered(form: AuditFilterForm) -> QuerySet[AuditEvent]:
    """The events the filter form selects (all of them when it is empty or invalid)."""
    events = AuditEvent.objects.select_related("actor")
    if not form.is_valid():
        return events
    data = form.cleaned_data
    if data["action"]:
        events = events.filter(action=data["action"])
    if data["actor"]:
        events = events.filter(actor=data["actor"])
    if data["since"]:
        events = events.filter(created_at__gte=timezone.make_aware(datetime.combine(data["since"], time.min)))
    if data["until"]:
        events = events.filter(created_at__lte=timezone.make_aware(datetime.combine(data["until"], time.max)))
    if data["q"]:
        events = events.filter(target_repr__icontains=data["q"])
    return events


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    form = AuditFilterForm(request.GET or None)
    page = Paginator(audit_events_filtered(form), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "accounts/audit.html", context)


class _Echo:
    """csv.writer writes to this; each row comes back as a string to stream."""

    def write(self, value: str) -> str:
        return value


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def audit_csv_rows(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=1000):
        row = [
            event.created_at.astimezone(UTC).isoformat(),
            event.actor.email if event.actor else "system",
            event.action,
            event.label,
            event.target_label,
            event.target_id,
            event.target_repr,
            json.dumps(event.details, cls=DjangoJSONEncoder, sort_keys=True),
        ]
        yield writer.writerow([_safe_cell(str(cell)) for cell in row])


@login_required
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    _require_auditor(request)
    events = audit_events_filtered(AuditFilterForm(request.GET or None))
    filename = f"allocator-audit-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(audit_csv_rows(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
