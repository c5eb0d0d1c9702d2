"""Capacity: the headroom rows the capacity page shows (allocator/capacity/headroom.py), least headroom first.

Managers, finance and admins (Access.sees_capacity); engineers get 403. Counts are integers (tokens or requests a
minute; for a per-day limit the day's total, with a null p99); a dimension the provider does not report (Anthropic
request counts) has `reported: false` and null peaks."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from allocator.api.errors import errors
from allocator.api.pagination import Pages
from allocator.capacity.headroom import HeadroomRow, headroom_rows
from allocator.models import ProviderAccount


class CapacityQuery(serializers.Serializer):
    account = serializers.CharField(required=False, max_length=80, help_text="A provider account's name.")


class HeadroomSerializer(serializers.Serializer):
    limit_id = serializers.IntegerField()
    account = serializers.CharField()
    provider = serializers.CharField()
    scope = serializers.CharField(help_text="Project or workspace id; empty for the whole organization.")
    model = serializers.CharField()
    dimension = serializers.CharField()
    limit = serializers.IntegerField()
    org_limit = serializers.IntegerField(allow_null=True)
    source = serializers.CharField(help_text="provider or manual")
    read_at = serializers.DateTimeField()
    reported = serializers.BooleanField()
    peak = serializers.IntegerField(allow_null=True)
    p99 = serializers.IntegerField(allow_null=True)
    peak_day = serializers.DateField(allow_null=True, help_text="The day of the peak: today or yesterday (UTC).")
    share = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True, help_text="peak / limit")
    binds_first = serializers.BooleanField()
    crossover = serializers.DateField(allow_null=True)


class HeadroomPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HeadroomSerializer(many=True)


def _row(row: HeadroomRow) -> dict:
    limit = row.limit
    return {
        "limit_id": limit.pk,
        "account": limit.account.name,
        "provider": limit.account.kind,
        "scope": limit.scope,
        "model": limit.model,
        "dimension": limit.dimension,
        "limit": limit.value,
        "org_limit": limit.org_limit,
        "source": limit.source,
        "read_at": limit.read_at,
        "reported": row.reported,
        "peak": row.peak if row.reported else None,
        "p99": row.p99 if row.reported else None,
        "peak_day": row.peak_day,
        "share": f"{row.share:.4f}" if row.share is not None else None,
        "binds_first": row.binds_first,
        "crossover": row.crossover,
    }


@extend_schema(parameters=[CapacityQuery], responses={200: HeadroomPageSerializer, **errors(400, 403, 404)})
class CapacityList(APIView):
    """Every rate limit against the busiest and p99 minute of today or yesterday (`peak_day`; a per-day limit: that
    day's total), which dimension binds first and the projected crossover date; filter `account` (name)."""

    def get(self, request: Request) -> Response:
        if not Access.for_request(request).sees_capacity:
            raise PermissionDenied()
        query = CapacityQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        account_ids = None
        if name := query.validated_data.get("account"):
            account = ProviderAccount.objects.filter(name=name).first()
            if account is None:
                raise NotFound(f"No provider account named {name!r}.")
            account_ids = [account.pk]
        rows = headroom_rows(account_ids=account_ids)
        pages = Pages()
        page = pages.paginate_queryset(rows, request, view=self) or []
        body = {
            "count": len(rows),
            "next": pages.get_next_link(),
            "previous": pages.get_previous_link(),
            "results": [_row(row) for row in page],
        }
        return Response(HeadroomPageSerializer(body).data)


routes = [path("capacity/", CapacityList.as_view(), name="capacity")]
