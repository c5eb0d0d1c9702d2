"""What Allocator keeps at the provider for one scope of one provider account (budgets/provider_caps.py writes it).

A scope (a team or an Allocator project) maps to one provider-side container: an OpenAI project, an Anthropic
workspace, an OpenRouter guardrail. The row remembers the container, the monthly spend limit last written there and
the provider's enforcement status, the model allow-list while the scope is degraded to cheaper models, and how the
last write went (a failed write is retried with backoff and shown, never silent).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from allocator.money import COLUMN_MAX_USD


class ProviderCap(models.Model):
    class State(models.TextChoices):
        IN_STEP = "in_step", "In step"
        RETRYING = "retrying", "Write failed, retrying"
        UNAVAILABLE = "unavailable", "Not available for this organization"
        REMOVED = "removed", "Removed (Allocator no longer manages this scope here)"

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="scope_caps")
    scope_key = models.CharField(max_length=40, help_text='The Allocator scope, e.g. "team:3".')
    provider_scope_id = models.CharField(max_length=128, help_text="The provider's project, workspace or guardrail.")
    limit_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Monthly limit last written (none: no limit)."
    )
    enforcement_status = models.CharField(max_length=24, blank=True)
    allowed_models = models.JSONField(null=True, blank=True, help_text="Models allowed while degraded (null: all).")
    degraded_reason = models.CharField(max_length=300, blank=True)
    assigned_key_ids = models.JSONField(default=list, blank=True, help_text="Keys put under a guardrail so far.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_STEP)
    last_set_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Failed writes in a row.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account", "scope_key"]
        constraints = [
            models.UniqueConstraint(fields=["account", "scope_key"], name="provider_cap_unique_scope"),
            models.UniqueConstraint(fields=["account", "provider_scope_id"], name="provider_cap_unique_container"),
            models.CheckConstraint(
                condition=Q(limit_usd__isnull=True) | Q(limit_usd__gte=0, limit_usd__lte=COLUMN_MAX_USD),
                name="provider_cap_limit_within_column",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.scope_key} → {self.provider_scope_id}"

    @property
    def degraded(self) -> bool:
        return self.allowed_models is not None
