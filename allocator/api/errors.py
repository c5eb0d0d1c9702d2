"""The API's one error shape and its exception handler.

Every error has one shape: {"error": {"code": "...", "message": "...", "fields": {...}?}}, from one exception
handler for the API views, and from `not_found` / `server_error` for what never reaches a view (unknown paths
under /api/, a crash outside a view). `fields` is there only for invalid input, one list of messages per field.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import BadRequest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from allocator.models import InvalidTransition
from allocator.providers.base import ProviderError

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
API_V1 = "/api/v1/"


def error_body(code: str, message: str, fields: dict | None = None) -> dict[str, dict[str, Any]]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The API's 404 for paths no API view answers (the catch-all at the end of urls_api, and handler404)."""
    message = "Not found." if request.path.startswith(API_V1) else "Not found. The API lives under /api/v1/."
    return JsonResponse(error_body("not_found", message), status=404)


def server_error_body() -> dict[str, dict[str, str]]:
    return error_body("server_error", "Something went wrong on our side; it has been logged.")


def server_error(request: HttpRequest) -> HttpResponse:
    return JsonResponse(server_error_body(), status=500)


def _field_messages(data: Any) -> dict[str, Any]:
    """DRF's error detail as {field: [messages]} (non-field errors under "non_field_errors")."""
    if isinstance(data, dict):
        return {str(k): v if isinstance(v, list | dict) else [str(v)] for k, v in data.items()}
    return {"non_field_errors": data if isinstance(data, list) else [str(data)]}


def _validation_message(fields: dict[str, Any]) -> str:
    names = [name for name in fields if name != "non_field_errors"]
    if not names:
        first = next(iter(fields.values()), [""])
        return str(first[0] if isinstance(first, list) and first else first) or "The input is invalid."
    return f"Some fields are invalid: {', '.join(names)}."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else None
        return Response(error_body("invalid", " ".join(exc.messages), fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, BadRequest):
        return Response(error_body("invalid", str(exc)), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, InvalidTransition):
        return Response(error_body("conflict", str(exc)), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ProviderError):
        return Response(error_body("provider_error", str(exc)), status=status.HTTP_502_BAD_GATEWAY)
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
        fields = _field_messages(response.data)
        response.data = error_body("invalid", _validation_message(fields), fields)
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = error_body(getattr(detail, "code", "error"), str(detail))
    return response


# --- The shape in the schema ------------------------------------------------------------------------

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                                required=False),
            },
        )
    },
)

_DESCRIPTIONS = {
    400: "Invalid input: malformed JSON, unknown fields, wrong types or values (`fields` says which).",
    401: "Not signed in, or the token is unknown, expired or revoked.",
    403: "Not signed in, not allowed, or a read-only token on a write.",
    404: "No such object, one this person may not see, or a page past the end of a list.",
    409: "The object is not in a state that allows this (decided already, claimed, over budget).",
    429: "Too many requests; `Retry-After` says how many seconds to wait.",
    502: "The provider refused or failed; nothing was changed.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the error statuses an operation answers (403, 404 and 429 everywhere: a list answers
    404 for a page past its end)."""
    wanted = sorted({403, 404, 429, *codes})
    return {code: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code]) for code in wanted}
