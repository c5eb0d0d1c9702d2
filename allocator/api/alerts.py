"""Alerts: the outbox as the alerts page shows it, and re-queuing one that failed (budgets.alerts)."""

from __future__ import annotations

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import Access
from allocator.api.errors import errors
from budgets import alerts as alert_services
from budgets.models import Alert


class AlertSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug", allow_null=True, default=None)
    user = serializers.EmailField(source="user.email", allow_null=True, default=None)
    key = serializers.IntegerField(source="key_id", allow_null=True)
    budget = serializers.IntegerField(source="budget_id", allow_null=True)

    class Meta:
        model = Alert
        fields = ["id", "kind", "scope", "scope_key", "quarter", "threshold", "team", "user", "key", "budget",
                  "message", "url", "status", "attempts", "channel", "delivered_to", "last_error", "created_at",
                  "sent_at"]


class AlertFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Alert.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Alert.Status.choices)
    quarter = django_filters.CharFilter()

    class Meta:
        model = Alert
        fields = ["kind", "status", "quarter"]


def _visible(request: Request):
    return Access.for_request(request).visible(Alert.objects.select_related("team", "user"), user="user")


class AlertList(generics.ListAPIView):
    """Alerts about what this person may see, newest first."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-pk"]

    def get_queryset(self):
        return _visible(self.request)

    @extend_schema(responses={200: AlertSerializer(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(request=None, responses={200: AlertSerializer, **errors(404)})
class AlertRetry(APIView):
    """Put a failed alert back in the queue (finance, admins, the team's manager); destinations done stay done."""

    def post(self, request: Request, pk: int) -> Response:
        alert = _visible(request).filter(pk=pk).first()
        if alert is None:
            raise NotFound()
        access = Access.for_request(request)
        if not (access.sees_everything or (alert.team_id and alert.team_id in access.managed_team_ids)):
            raise PermissionDenied()
        alert_services.alert_retry(alert=alert, by=request.user)
        return Response(AlertSerializer(_visible(request).get(pk=pk)).data)


routes = [
    path("alerts/", AlertList.as_view(), name="alert_list"),
    path("alerts/<id:pk>/retry/", AlertRetry.as_view(), name="alert_retry"),
]
