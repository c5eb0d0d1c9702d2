"""Chargeback: the quarter's lines as JSON (finance every line, a manager their teams', as on the page) and the
three exports (CSV, FOCUS 1.3 CSV, XLSX) streamed, each an audit event (`chargeback.exported`, via "api"),
through budgets.reports.chargeback and budgets.reports.downloads, the functions the page calls."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from accounts.permissions import Access
from allocator.api.errors import errors
from allocator.api.fields import QUARTER_PARAM, cost_out, quarter_param
from budgets.reports import downloads
from budgets.reports.chargeback import Totals, chargeback_lines, closed_quarters

PAGE_SIZE, MAX_PAGE_SIZE = 100, 500


class LineSerializer(serializers.Serializer):
    for_quarter = serializers.CharField(help_text="The quarter the usage belongs to (adjustments: an earlier one).")
    category = serializers.CharField(help_text='"usage" or "adjustment" (late usage of a closed quarter).')
    account_id = serializers.IntegerField(allow_null=True)
    account_name = serializers.CharField(allow_blank=True)
    provider = serializers.CharField(allow_blank=True)
    key_id = serializers.IntegerField(allow_null=True, help_text="Null: usage no key carries (unattributed).")
    key_name = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_blank=True)
    cost_center_id = serializers.IntegerField(allow_null=True)
    cost_center_code = serializers.CharField(allow_blank=True)
    cost_center_name = serializers.CharField(allow_blank=True)
    team_id = serializers.IntegerField(allow_null=True)
    team_name = serializers.CharField(allow_blank=True)
    project_id = serializers.IntegerField(allow_null=True)
    project_name = serializers.CharField(allow_blank=True)
    user_id = serializers.IntegerField(allow_null=True)
    user_name = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(help_text='"build", "run" or "unattributed".')
    source = serializers.CharField(help_text='"billed", "reconciled", "estimated" or "unknown".')
    input_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    requests = serializers.IntegerField(allow_null=True, help_text="Null where the provider reports none.")
    cost_usd = cost_out()


class TotalsSerializer(serializers.Serializer):
    usage_usd = cost_out()
    adjustments_usd = cost_out()
    build_usd = cost_out()
    run_usd = cost_out()
    unattributed_usd = cost_out()
    total_usd = cost_out()
    tokens = serializers.IntegerField()
    lines = serializers.IntegerField()


class ChargebackSerializer(serializers.Serializer):
    quarter = serializers.CharField()
    closed = serializers.BooleanField(help_text="A closed quarter answers its frozen lines.")
    all_teams = serializers.BooleanField(help_text="Every line, unattributed included (finance, admins).")
    totals = TotalsSerializer(help_text="Over every line, not only this page's.")
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LineSerializer(many=True)


def _chargeback_access(request: Request) -> Access:
    access = Access.for_request(request)
    if not access.sees_chargeback:
        raise PermissionDenied()
    return access


def _paging(request: Request) -> tuple[int, int]:
    """?page= (not a page number: 404, as every list) and ?page_size= (not a number: the default, as every list)."""
    raw_page, raw_size = request.query_params.get("page") or "1", request.query_params.get("page_size") or ""
    if not raw_page.isdigit() or int(raw_page) < 1:
        raise NotFound("Invalid page.")
    size = int(raw_size) if raw_size.isdigit() and int(raw_size) > 0 else PAGE_SIZE
    return int(raw_page), min(size, MAX_PAGE_SIZE)


def _link(request: Request, number: int | None) -> str | None:
    if number is None:
        return None
    url = request.build_absolute_uri()
    return remove_query_param(url, "page") if number == 1 else replace_query_param(url, "page", number)


@extend_schema(
    parameters=[
        QUARTER_PARAM,
        OpenApiParameter("page", int, description="Page number."),
        OpenApiParameter("page_size", int, description=f"Lines a page (default {PAGE_SIZE}, at most {MAX_PAGE_SIZE})."),
    ],
    responses={200: ChargebackSerializer, **errors(400)},
)
class ChargebackLines(APIView):
    """The quarter's chargeback lines (provider account × key × model × owner), with the totals the page shows.
    The lines are read once, streamed: only this page's lines are kept, the totals count them all."""

    def get(self, request: Request) -> Response:
        access = _chargeback_access(request)
        quarter = quarter_param(request)
        number, size = _paging(request)
        closed = closed_quarters()
        totals, page = Totals(), []
        first = (number - 1) * size
        for index, line in enumerate(chargeback_lines(quarter=quarter, team_ids=access.chargeback_team_ids(),
                                                      closed=closed)):  # fmt: skip
            totals.add(line)
            if first <= index < first + size:
                page.append(line)
        if number > 1 and not page:
            raise NotFound("Invalid page.")
        body: dict[str, Any] = {
            "quarter": str(quarter),
            "closed": quarter.name in closed,
            "all_teams": access.chargeback_team_ids() is None,
            "totals": totals,
            "count": totals.lines,
            "next": _link(request, number + 1 if first + size < totals.lines else None),
            "previous": _link(request, number - 1 if number > 1 else None),
            "results": page,
        }
        return Response(ChargebackSerializer(body).data)


_EXPORT_TYPES = {content_type.split(";")[0] for content_type, _ in downloads.FORMATS.values()}


@extend_schema(
    parameters=[
        QUARTER_PARAM,
        OpenApiParameter(
            "fmt",
            str,
            OpenApiParameter.PATH,
            enum=list(downloads.FORMATS),
            description="csv (one row per line), focus (FOCUS 1.3 CSV) or xlsx.",
        ),
    ],  # fmt: skip
    responses={**{(200, media): OpenApiTypes.BINARY for media in sorted(_EXPORT_TYPES)}, **errors(400)},
)
class ChargebackExport(APIView):
    """The quarter's chargeback as a file, streamed, exactly as the page's download buttons give it; every export
    is an audit event."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A script may ask for text/csv; errors still answer JSON.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request, fmt: str) -> StreamingHttpResponse:
        access = _chargeback_access(request)
        if fmt not in downloads.FORMATS:
            raise NotFound(f"Unknown format: choose one of {', '.join(downloads.FORMATS)}.")
        quarter = quarter_param(request)
        export = downloads.chargeback_export(
            fmt=fmt, quarter=quarter, by=request.user, team_ids=access.chargeback_team_ids(), via="api"
        )
        response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response


routes = [
    path("chargeback/", ChargebackLines.as_view(), name="chargeback"),
    path("chargeback/export/<str:fmt>/", ChargebackExport.as_view(), name="chargeback_export"),
]
