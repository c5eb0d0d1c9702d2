"""REST API for keys and key requests. Same services and permission helper as the web pages.

Every error has one shape: {"error": {"code": "...", "message": "...", "fields": {...}?}}, from one exception
handler for the API views, and from `not_found` / `server_error` for what never reaches a view (unknown paths
under /api/, a crash outside a view).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from accounts.models import Project, Team
from accounts.permissions import Access
from allocator import approvals as approval_services
from allocator import key_requests
from allocator.models import InvalidTransition, Key, KeyRequest, ProviderAccount
from allocator.providers.base import ProviderError

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The API's 404 for paths no API view answers (the catch-all at the end of urls_api, and handler404)."""
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error_body() -> dict[str, dict[str, str]]:
    return error_body("server_error", "Something went wrong on our side; it has been logged.")


def server_error(request: HttpRequest) -> HttpResponse:
    return JsonResponse(server_error_body(), status=500)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else None
        body = {"code": "invalid", "message": " ".join(exc.messages)}
        if fields:
            body["fields"] = fields
        return Response({"error": body}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, InvalidTransition):
        return Response({"error": {"code": "conflict", "message": str(exc)}}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ProviderError):
        return Response({"error": {"code": "provider_error", "message": str(exc)}}, status=status.HTTP_502_BAD_GATEWAY)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an API exception: a bug. Log it with the traceback, answer the documented shape, not the HTML page.
        logger.error("Unhandled exception in %s", context.get("view"), exc_info=exc)
        set_rollback()
        return Response(server_error_body(), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": {"code": "invalid", "message": "Some fields are invalid.", "fields": response.data}}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        code = getattr(detail, "code", "error")
        response.data = {"error": {"code": code, "message": str(detail)}}
    return response


class KeySerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.name")
    provider = serializers.CharField(source="account.kind")
    owner = serializers.CharField(source="owner_label")
    team = serializers.CharField(source="team.slug")
    secret_available = serializers.BooleanField()

    class Meta:
        model = Key
        fields = [
            "id",
            "name",
            "account",
            "provider",
            "owner",
            "team",
            "hint",
            "status",
            "status_reason",
            "limit_usd",
            "created_at",
            "expires_at",
            "secret_available",
        ]


class KeyRequestSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account.name")
    team = serializers.CharField(source="team.slug")
    project = serializers.CharField(source="project.slug", allow_null=True, default=None)
    requester = serializers.EmailField(source="requester.email")

    class Meta:
        model = KeyRequest
        fields = [
            "id",
            "name",
            "purpose",
            "account",
            "team",
            "project",
            "requester",
            "allowance_usd",
            "expires_on",
            "state",
            "awaiting_step",
            "needs_finance",
            "auto_approved",
            "decision_reason",
            "failure_message",
            "created_at",
        ]


class KeyRequestCreateSerializer(serializers.Serializer):
    account = serializers.SlugRelatedField(slug_field="name", queryset=ProviderAccount.objects.filter(enabled=True))
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    project = serializers.SlugRelatedField(
        slug_field="slug", queryset=Project.objects.filter(is_active=True), required=False, allow_null=True
    )
    name = serializers.SlugField(max_length=40)
    purpose = serializers.CharField(max_length=2000)
    allowance_usd = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=1)
    expires_on = serializers.DateField(required=False, allow_null=True)


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


@extend_schema(responses=KeySerializer(many=True))
@api_view(["GET"])
def key_list(request: Request) -> Response:
    access = Access.for_request(request)
    keys = access.visible(
        Key.objects.select_related("account", "team", "owner_user", "owner_project"), user="owner_user"
    )
    return Response(KeySerializer(keys.order_by("-created_at")[:500], many=True).data)


@extend_schema(request=KeyRequestCreateSerializer, responses=KeyRequestSerializer(many=True))
@api_view(["GET", "POST"])
def key_request_list(request: Request) -> Response:
    if request.method == "POST":
        serializer = KeyRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key_request = key_requests.key_request_create(
            requester=request.user,
            **{k: v for k, v in serializer.validated_data.items() if k != "project"},
            project=serializer.validated_data.get("project"),
        )
        return Response(KeyRequestSerializer(key_request).data, status=status.HTTP_201_CREATED)
    access = Access.for_request(request)
    requests = access.visible(
        KeyRequest.objects.select_related("account", "team", "project", "requester"), user="requester"
    )
    return Response(KeyRequestSerializer(requests[:500], many=True).data)


def _visible_request(request: Request, pk: int) -> KeyRequest:
    key_request = KeyRequest.objects.select_related("account", "team", "project", "requester").filter(pk=pk).first()
    if key_request is None or not Access.for_request(request).can_view(key_request):
        raise exceptions.NotFound()
    return key_request


@extend_schema(request=None, responses=KeyRequestSerializer)
@api_view(["POST"])
def key_request_approve(request: Request, pk: int) -> Response:
    key_request = approval_services.approval_approve(approval_request=_visible_request(request, pk), by=request.user)
    return Response(KeyRequestSerializer(key_request).data)


@extend_schema(request=RejectSerializer, responses=KeyRequestSerializer)
@api_view(["POST"])
def key_request_reject(request: Request, pk: int) -> Response:
    serializer = RejectSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    key_request = approval_services.approval_reject(
        approval_request=_visible_request(request, pk), by=request.user, reason=serializer.validated_data["reason"]
    )
    return Response(KeyRequestSerializer(key_request).data)
