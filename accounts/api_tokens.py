"""Personal API tokens: a script acts as its owner (never more), read-only or read-write, until it expires or is
revoked. The token is shown once; only its SHA-256 is stored (the token is 256 random bits, so a plain hash is
enough), with a short prefix to tell tokens apart."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from accounts.models import AuditEvent, User

TOKEN_START = "alloc_"
PREFIX_LENGTH = len(TOKEN_START) + 6
MAX_EXPIRY_DAYS = 366
LAST_USED_GRANULARITY = timedelta(minutes=1)  # at most one write per token per minute


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to tell tokens apart.")
    token_hash = models.CharField(max_length=64, unique=True)
    read_only = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"API token “{self.name}” ({self.prefix}…) of {self.user}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"


def api_token_create(*, user: User, name: str, read_only: bool, expires_on: date) -> tuple[ApiToken, str]:
    """A new token for `user`, valid through `expires_on` (UTC). Returns the row and the token, shown once."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the token a name (what uses it)."
    elif len(name) > ApiToken._meta.get_field("name").max_length:
        errors["name"] = "Keep the name to at most 80 characters."
    today = timezone.now().date()
    if expires_on is None or expires_on <= today:
        errors["expires_on"] = "The expiry date must be in the future."
    elif expires_on > today + timedelta(days=MAX_EXPIRY_DAYS):
        errors["expires_on"] = f"A token lasts at most {MAX_EXPIRY_DAYS} days."
    if errors:
        raise ValidationError(errors)
    raw = TOKEN_START + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=raw[:PREFIX_LENGTH],
            token_hash=token_hash(raw),
            read_only=read_only,
            expires_at=datetime.combine(expires_on, time.max, tzinfo=UTC),
        )
        AuditEvent.record(
            "api_token.created",
            actor=user,
            target=token,
            prefix=token.prefix,
            read_only=read_only,
            expires_on=expires_on.isoformat(),
        )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: User) -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.user_id != by.pk:
        raise PermissionDenied("Only the token's owner can revoke it.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        AuditEvent.record("api_token.revoked", actor=by, target=token, prefix=token.prefix)
    return token


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The usable token `raw` names (its owner active), or None. Stamps the last use, at most once a minute."""
    if not raw.startswith(TOKEN_START) or len(raw) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=token_hash(raw)).first()
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
