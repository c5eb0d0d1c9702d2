"""State kept by the built-in simulated provider. Registered in the `allocator` app (allocator/models.py imports it)."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone


class SimulatedKey(models.Model):
    """State kept by the built-in simulated provider (it plays the provider's side, not Allocator's)."""

    account_id = models.BigIntegerField(db_index=True)
    key_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    hint = models.CharField(max_length=64)
    disabled = models.BooleanField(default=False)
    revoked = models.BooleanField(default=False)
    limit_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Earlier suspensions that were lifted, as [start, end] ISO pairs: a re-pull must not report usage in them.
    past_suspensions = models.JSONField(default=list, blank=True)
    profile = models.JSONField(default=dict, blank=True, help_text="Usage profile (rate, models, caching).")

    def __str__(self) -> str:
        return self.key_id

    def suspend(self, *, now: datetime | None = None) -> None:
        if not self.disabled:
            self.disabled, self.disabled_at = True, now or timezone.now()

    def reinstate(self, *, now: datetime | None = None) -> None:
        if self.disabled and self.disabled_at is not None:
            period = [self.disabled_at.isoformat(), (now or timezone.now()).isoformat()]
            self.past_suspensions = [*(self.past_suspensions or []), period]
        self.disabled, self.disabled_at = False, None

    def revoke(self, *, now: datetime | None = None) -> None:
        self.revoked, self.disabled_at = True, self.disabled_at or now or timezone.now()

    def offline_periods(self) -> list[tuple[datetime, datetime | None]]:
        """When the key answered no requests: lifted suspensions, then the current suspension or revocation."""
        periods: list[tuple[datetime, datetime | None]] = [
            (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in self.past_suspensions or []
        ]
        if (self.disabled or self.revoked) and self.disabled_at is not None:
            periods.append((self.disabled_at, None))
        return periods
