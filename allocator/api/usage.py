"""Usage: daily totals from DailyRollup (never raw buckets), filtered and grouped per day × one dimension.

Rows are what a person may see, as on the pages: finance and admins everything, a manager their teams, an
engineer their own keys' usage and their teams' project keys.
"""

from __future__ import annotations

import django_filters
from django.db.models import Sum
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from accounts.permissions import Access
from allocator.api.errors import errors
from allocator.api.fields import cost_out
from allocator.models import DailyRollup, ProviderKind
from allocator.money import sum_money
from allocator.quarters import Quarter

# group_by value → the rollup column whose readable value names the group.
GROUPS = {
    "total": None,
    "cost_center": "cost_center__code",
    "team": "team__slug",
    "project": "owner_project__slug",
    "person": "owner_user__email",
    "key": "key_id",
    "model": "model",
    "provider": "provider",
    "account": "account__name",
}


class UsageRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    group = serializers.CharField(allow_null=True, help_text="The value of `group_by` (null: not attributed).")
    input_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    requests = serializers.IntegerField(allow_null=True, help_text="Null where the provider reports none.")
    cost_usd = cost_out()


class UsageFilter(django_filters.FilterSet):
    start = django_filters.DateFilter(field_name="day", lookup_expr="gte", label="First day (default: quarter start).")
    end = django_filters.DateFilter(field_name="day", lookup_expr="lte", label="Last day, inclusive.")
    cost_center = django_filters.CharFilter(field_name="cost_center__code")
    team = django_filters.CharFilter(field_name="team__slug")
    project = django_filters.CharFilter(field_name="owner_project__slug")
    person = django_filters.CharFilter(field_name="owner_user__email", lookup_expr="iexact")
    key = django_filters.NumberFilter(field_name="key_id", min_value=1, max_value=2**63 - 1)
    model = django_filters.CharFilter(field_name="model")
    provider = django_filters.ChoiceFilter(field_name="provider", choices=ProviderKind.choices)

    class Meta:
        model = DailyRollup
        fields = ["start", "end", "cost_center", "team", "project", "person", "key", "model", "provider"]

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        if data.get("start") is None:
            queryset = queryset.filter(day__gte=Quarter.current().start)
        return super().filter_queryset(queryset)


@extend_schema(
    parameters=[
        OpenApiParameter("group_by", str, enum=list(GROUPS), description="One dimension per row (default: total)."),
    ],
    responses={200: UsageRowSerializer(many=True), **errors(400)},
)
class UsageList(generics.ListAPIView):
    """Usage per day × `group_by`, oldest day first. Cost is billed cost where the provider bills it (reconciled),
    the same figures budgets and pages use. Without `start`, from the start of the current quarter."""

    serializer_class = UsageRowSerializer
    filterset_class = UsageFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]

    def get_queryset(self):
        group_by = self.request.query_params.get("group_by") or "total"
        if group_by not in GROUPS:
            raise serializers.ValidationError({"group_by": [f"Choose one of: {', '.join(GROUPS)}."]})
        rows = Access.for_request(self.request).visible(DailyRollup.objects.all(), user="owner_user")
        column = GROUPS[group_by]
        columns = ["day", column] if column else ["day"]
        return (
            rows.values(*columns)
            .annotate(
                input_tokens=Sum("input_tokens"),
                cached_input_tokens=Sum("cached_input_tokens"),
                cache_write_tokens=Sum("cache_write_tokens"),
                output_tokens=Sum("output_tokens"),
                requests=Sum("requests"),
                cost_usd=sum_money("cost_usd"),
            )
            .order_by(*columns)
        )

    def get_serializer(self, *args, **kwargs):
        if args and isinstance(args[0], list):
            column = GROUPS[self.request.query_params.get("group_by") or "total"]
            rows = [{**row, "group": None if column is None or row[column] is None else str(row[column])}
                    for row in args[0]]
            args = (rows, *args[1:])
        return super().get_serializer(*args, **kwargs)


routes = [path("usage/", UsageList.as_view(), name="usage_list")]
