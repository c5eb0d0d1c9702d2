"""Audit events, as the audit log page shows them (finance and admins)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from accounts.models import AuditEvent
from allocator.api.auth import FINANCE_ONLY
from allocator.api.errors import errors


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.EmailField(source="actor.email", allow_null=True, default=None)
    label = serializers.CharField()
    target = serializers.CharField(source="target_repr")
    details = serializers.JSONField()

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor", "action", "label", "target_type", "target_id", "target", "details"]


class AuditFilter(django_filters.FilterSet):
    action = django_filters.CharFilter()
    actor = django_filters.CharFilter(field_name="actor__email", lookup_expr="iexact", label="The actor's email.")
    since = django_filters.DateFilter(method="filter_since", label="From this day (UTC).")
    until = django_filters.DateFilter(method="filter_until", label="Through this day (UTC).")
    q = django_filters.CharFilter(field_name="target_repr", lookup_expr="icontains", label="Target contains.")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "since", "until", "q"]

    def filter_since(self, queryset, name, value):
        return queryset.filter(created_at__gte=datetime.combine(value, time.min, tzinfo=UTC))

    def filter_until(self, queryset, name, value):
        return queryset.filter(created_at__lte=datetime.combine(value, time.max, tzinfo=UTC))


class AuditEventList(generics.ListAPIView):
    """The append-only audit log, newest first (finance and admins)."""

    serializer_class = AuditEventSerializer
    permission_classes = FINANCE_ONLY
    filterset_class = AuditFilter
    ordering = ["-created_at", "-id"]
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return AuditEvent.objects.select_related("actor")

    @extend_schema(responses={200: AuditEventSerializer(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


routes = [path("audit-events/", AuditEventList.as_view(), name="audit_event_list")]
