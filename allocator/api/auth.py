"""Personal-token authentication, the read-only rule for tokens, and the throttles (counted in the shared cache).

A token acts as its owner, through the same `Access` rules as the pages: never more than the owner may do. A
read-only token refuses every unsafe method with 403.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.settings import api_settings

from accounts.api_tokens import ApiToken, api_token_authenticate
from accounts.permissions import Access


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as `Authorization: Bearer <token>`.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as error:
            raise exceptions.AuthenticationFailed("That is not an Allocator token.") from error
        token = api_token_authenticate(raw)
        if token is None:
            # Guessing tokens counts against the caller's anonymous rate.
            throttle = FailedTokenThrottle()
            if not throttle.allow_request(request, None):
                raise exceptions.Throttled(throttle.wait())
            raise exceptions.AuthenticationFailed("The token is unknown, expired or revoked.")
        return token.user, token


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A personal token from /accounts/tokens/."}


class SignedIn(permissions.BasePermission):
    """IsAuthenticated, except that an anonymous caller over the anonymous rate hears 429 rather than 403 (DRF
    checks permissions before throttles)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        view.check_throttles(request)
        return False


class ReadOnlyTokensOnlyRead(permissions.BasePermission):
    message = "This token is read-only: create a read-write token to change things."

    def has_permission(self, request: Any, view: Any) -> bool:
        token = request.auth
        if isinstance(token, ApiToken) and token.read_only:
            return request.method in permissions.SAFE_METHODS
        return True


class FinanceOrAdmin(permissions.BasePermission):
    message = "Finance and admins only."

    def has_permission(self, request: Any, view: Any) -> bool:
        return Access.for_request(request).sees_everything


FINANCE_ONLY = [SignedIn, ReadOnlyTokensOnlyRead, FinanceOrAdmin]


class _Rate(throttling.SimpleRateThrottle):
    """Rates read at request time (so settings overrides apply), counted in the default (shared) cache."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class AnonThrottle(_Rate):
    scope = "anon"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class FailedTokenThrottle(AnonThrottle):
    """Counted while authenticating, so it cannot ask who the user is."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenThrottle(_Rate):
    """Per token: a runaway script slows down, its owner's browser session does not."""

    scope = "token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
