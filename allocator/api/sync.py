"""Provider accounts (names for key requests; health for finance), usage sync runs, and "sync now" (the task
the sync status page queues)."""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import AuditEvent
from accounts.permissions import Access
from allocator.api.auth import FINANCE_ONLY
from allocator.api.errors import errors
from allocator.models import ProviderAccount, SyncRun


class ProviderAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProviderAccount
        fields = ["id", "name", "kind", "enabled", "status", "last_sync_at", "synced_until"]


class SyncRunSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.name")

    class Meta:
        model = SyncRun
        fields = ["id", "account", "trigger", "status", "window_start", "window_end", "pages", "rows",
                  "unknown_models", "error", "started_at", "finished_at"]


class ProviderAccountList(generics.ListAPIView):
    """Provider accounts (never their credentials): everyone sees the enabled ones (to request keys)."""

    serializer_class = ProviderAccountSerializer
    ordering = ["name"]
    ordering_fields = ["name"]

    def get_queryset(self):
        accounts = ProviderAccount.objects.all()
        return accounts if Access.for_request(self.request).sees_everything else accounts.filter(enabled=True)

    @extend_schema(responses={200: ProviderAccountSerializer(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SyncRunFilter(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__name")
    status = django_filters.ChoiceFilter(choices=SyncRun.Status.choices)

    class Meta:
        model = SyncRun
        fields = ["account", "status"]


class SyncRunList(generics.ListAPIView):
    """Usage sync runs, newest first (finance and admins)."""

    serializer_class = SyncRunSerializer
    permission_classes = FINANCE_ONLY
    filterset_class = SyncRunFilter
    ordering = ["-started_at", "-pk"]
    ordering_fields = ["started_at"]

    def get_queryset(self):
        return SyncRun.objects.select_related("account")

    @extend_schema(responses={200: SyncRunSerializer(many=True), **errors(400)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


Queued = inline_serializer(name="SyncQueued", fields={"queued": serializers.BooleanField(),
                                                       "account": serializers.CharField()})


@extend_schema(request=None, responses={202: Queued, **errors(404)})
class SyncNow(APIView):
    """Queue a usage sync of one account now (finance and admins); read /sync-runs/ for its outcome."""

    permission_classes = FINANCE_ONLY

    def post(self, request: Request, pk: int) -> Response:
        from allocator.tasks import sync_account

        account = ProviderAccount.objects.filter(pk=pk).first()
        if account is None:
            raise NotFound()
        AuditEvent.record("usage.sync_requested", actor=request.user, target=account)
        transaction.on_commit(lambda: sync_account.delay(account.pk, "manual"))
        return Response({"queued": True, "account": account.name}, status=status.HTTP_202_ACCEPTED)


routes = [
    path("provider-accounts/", ProviderAccountList.as_view(), name="provider_account_list"),
    path("provider-accounts/<id:pk>/sync/", SyncNow.as_view(), name="sync_now"),
    path("sync-runs/", SyncRunList.as_view(), name="sync_run_list"),
]
