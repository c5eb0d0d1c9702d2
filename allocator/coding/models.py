"""Coding-tool usage: who a tool names (identities), per person, day and model usage with the tool's outcome counts,
and paid seats per month. Registered in the `allocator` app (allocator/models.py imports them).

Seat spend (CodingSeat) and usage spend (CodingUsage) are kept apart. Where an account's budget policy says "count",
both are also written into DailyRollup (allocator/coding/rollups.py), so budgets, boards and chargeback see them.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class CodingIdentity(models.Model):
    """Someone (or an API key) a coding tool reports usage for. `user` None: not matched yet, waiting for an admin to
    map it by hand (its rows are kept and show as unattributed until then)."""

    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        API_KEY = "api_key", "API key"

    class MatchedBy(models.TextChoices):
        NONE = "", "Not matched"
        EMAIL = "email", "Email"
        ADMIN = "admin", "Mapped by an admin"

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="coding_identities")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERSON)
    external_id = models.CharField(max_length=255, help_text="What the tool calls them: email, login or key name.")
    email = models.CharField(max_length=254, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="coding_identities"
    )
    matched_by = models.CharField(max_length=8, choices=MatchedBy.choices, blank=True, default="")
    mapped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mapped_at = models.DateTimeField(null=True, blank=True)
    first_seen = models.DateField()
    last_seen = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "external_id"], name="coding_identity_unique")
        ]
        indexes = [models.Index(fields=["account", "user"], name="coding_identity_user_idx")]
        verbose_name_plural = "coding identities"

    def __str__(self) -> str:
        return f"{self.external_id} ({self.get_kind_display()})"


class CodingUsage(models.Model):
    """One identity's use of a coding tool on one UTC day and model, exactly as the tool reported it.

    A re-sync of a day replaces every row of that (account, day). `user` is the identity's person when written,
    and is re-attributed when an admin maps the identity. `model` "" holds outcome counts reported per day only.
    Outcome counts are the tool's own; None where the tool does not report them. `counted_via_key`: the spend is
    counted through an API key already (Claude Code with a Console key) and never counted here again.
    """

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+")
    identity = models.ForeignKey(CodingIdentity, on_delete=models.CASCADE, related_name="usage")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    day = models.DateField()
    model = models.CharField(max_length=128, blank=True)
    customer_type = models.CharField(max_length=16, blank=True)
    counted_via_key = models.BooleanField(default=False)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_creation_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    requests = models.BigIntegerField(null=True, blank=True)
    sessions = models.BigIntegerField(null=True, blank=True)
    lines_added = models.BigIntegerField(null=True, blank=True)
    lines_removed = models.BigIntegerField(null=True, blank=True)
    commits = models.BigIntegerField(null=True, blank=True)
    pull_requests = models.BigIntegerField(null=True, blank=True)
    accepted_suggestions = models.BigIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "identity", "model", "customer_type"], name="coding_usage_identity"
            ),
            models.CheckConstraint(
                condition=Q(cost_usd__gte=0) & Q(cost_usd__lte=Decimal("999999999999")), name="coding_usage_cost_range"
            ),
        ]
        indexes = [models.Index(fields=["user", "day"], name="coding_usage_user_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.identity_id} {self.model or 'outcomes'} ${self.cost_usd}"


class CodingSeat(models.Model):
    """One paid seat of a coding tool in one month (`month` is its first day), at the month's fixed price."""

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+")
    identity = models.ForeignKey(CodingIdentity, on_delete=models.CASCADE, related_name="seats")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    month = models.DateField()
    plan = models.CharField(max_length=64, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    assigned_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "month", "identity"], name="coding_seat_identity"),
            models.CheckConstraint(
                condition=Q(cost_usd__gte=0) & Q(cost_usd__lte=Decimal("9999999999.99")), name="coding_seat_cost_range"
            ),
        ]
        indexes = [models.Index(fields=["user", "month"], name="coding_seat_user_month_idx")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.identity_id} ${self.cost_usd}"


class CodingSummary(models.Model):
    """A quarter's coding-tool figures of one person (or of the unmatched identities: `user` None) on one account:
    what the person page and the boards read. Rebuilt for the quarters a write touched (allocator/coding/summary.py).

    `usage_cost_usd` excludes use counted through API keys (`via_key_cost_usd`, shown apart); `seat_cost_usd` is
    the quarter's seats. Outcome counts are the tool's own, None where it reports none.
    """

    quarter_start = models.DateField()
    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    usage_cost_usd = models.DecimalField(max_digits=28, decimal_places=6, default=Decimal("0"))
    via_key_cost_usd = models.DecimalField(max_digits=28, decimal_places=6, default=Decimal("0"))
    seat_cost_usd = models.DecimalField(max_digits=28, decimal_places=2, default=Decimal("0"))
    tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(null=True, blank=True)
    sessions = models.BigIntegerField(null=True, blank=True)
    lines_added = models.BigIntegerField(null=True, blank=True)
    lines_removed = models.BigIntegerField(null=True, blank=True)
    commits = models.BigIntegerField(null=True, blank=True)
    pull_requests = models.BigIntegerField(null=True, blank=True)
    accepted_suggestions = models.BigIntegerField(null=True, blank=True)
    active_days = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["quarter_start", "user"], name="coding_summary_quarter_idx"),
            models.Index(fields=["user", "quarter_start"], name="coding_summary_user_idx"),
        ]
        verbose_name_plural = "coding summaries"

    def __str__(self) -> str:
        return f"{self.quarter_start} {self.account_id} {self.user_id} ${self.usage_cost_usd}"

    @property
    def cost_usd(self) -> Decimal:
        """What the tool cost for this person: usage (not through keys) and seats."""
        return self.usage_cost_usd + self.seat_cost_usd

    @property
    def cost_per_pull_request(self) -> Decimal | None:
        return (self.cost_usd / self.pull_requests).quantize(Decimal("0.01")) if self.pull_requests else None
