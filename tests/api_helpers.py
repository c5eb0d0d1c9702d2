"""Personal tokens and clients that call the API with them, as a script would."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from accounts.api_tokens import api_token_create


def token_for(user, *, read_only: bool = False, days: int = 30) -> str:
    _, raw = api_token_create(
        user=user, name="script", read_only=read_only, expires_on=timezone.now().date() + timedelta(days=days)
    )
    return raw


def script(user=None, *, token: str | None = None, read_only: bool = False) -> Client:
    """A client that sends `Authorization: Bearer <token>` and no cookies (a script, not a browser)."""
    raw = token or token_for(user, read_only=read_only)
    return Client(headers={"Authorization": f"Bearer {raw}"})
