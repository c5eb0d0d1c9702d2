"""A provider-side spend-limit increase request (Anthropic, Claude Enterprise), mirrored so it can be decided in
Allocator's approvals inbox beside key requests and bumps, under the same rules (allocator/approvals.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from allocator.models import ApprovalRequest
from allocator.money import COLUMN_MAX_USD


class SpendLimitRequest(ApprovalRequest):
    """pending → approved | rejected; the decision is then sent to the provider (`provider_state`)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    class Sent(models.TextChoices):
        NOT_YET = "", "Not sent yet"
        SENT = "sent", "Sent to the provider"
        FAILED = "failed", "Sending failed"

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+")
    provider_request_id = models.CharField(max_length=128)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requester_email = models.CharField(max_length=254)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    amount_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    approved_amount_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    reason = models.CharField(max_length=1000, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    provider_state = models.CharField(max_length=8, choices=Sent.choices, blank=True, default="")
    provider_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "provider_request_id"], name="spend_limit_request_unique"),
            models.CheckConstraint(
                condition=(Q(amount_usd__isnull=True) | Q(amount_usd__gte=0, amount_usd__lte=COLUMN_MAX_USD))
                & (
                    Q(approved_amount_usd__isnull=True)
                    | Q(approved_amount_usd__gte=0, approved_amount_usd__lte=COLUMN_MAX_USD)
                ),
                name="spend_limit_request_amounts_within_column",
            ),
        ]

    def __str__(self) -> str:
        return f"Spend-limit increase for {self.requester or self.requester_email}"

    def get_absolute_url(self) -> str:
        return reverse("allocator:approvals") + f"#increase-{self.pk}"

    @property
    def requester_label(self) -> str:
        return str(self.requester) if self.requester_id else self.requester_email
