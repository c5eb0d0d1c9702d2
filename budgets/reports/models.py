"""Chargeback facts: closed quarters with their frozen lines, and Stripe customers and invoices per cost center.

Registered in the `budgets` app (budgets/models.py imports them), so table names and migrations stay there.

A frozen line copies the names it was charged under (cost center, team, project, person, key) next to their ids,
and the ids are plain integers, not foreign keys: renaming or deleting a team later changes nothing in a closed
quarter.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from allocator.quarters import Quarter


class Kind(models.TextChoices):
    BUILD = "build", "Build"
    RUN = "run", "Run"
    UNATTRIBUTED = "unattributed", "Unattributed"


class Category(models.TextChoices):
    USAGE = "usage", "Usage"
    ADJUSTMENT = "adjustment", "Adjustment"


class Source(models.TextChoices):
    BILLED = "billed", "Billed"
    RECONCILED = "reconciled", "Reconciled to the bill"
    ESTIMATED = "estimated", "Estimated"
    UNKNOWN = "unknown", "No usage detail kept"


class QuarterClose(models.Model):
    """A closed quarter: its chargeback is frozen in FrozenLine rows. One per quarter (the unique constraint is
    the last guard when two people close at once)."""

    quarter = models.CharField(max_length=10, unique=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField()
    usage_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    adjustments_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    build_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    run_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    unattributed_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    line_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-quarter"]

    def __str__(self) -> str:
        return f"{self.quarter} closed"

    @property
    def total_usd(self) -> Decimal:
        return self.usage_usd + self.adjustments_usd

    @classmethod
    def refusal(cls, quarter: Quarter | str) -> str | None:
        """Why budgets of `quarter` cannot change (it is closed), or None (one query)."""
        name = str(quarter)
        if cls.objects.filter(quarter=name).exists():
            return f"{name} is closed: its budgets are read-only."
        return None


class FrozenLine(models.Model):
    """One chargeback line of a closed quarter, as it was at the close."""

    close = models.ForeignKey(QuarterClose, on_delete=models.CASCADE, related_name="lines")
    for_quarter = models.CharField(max_length=10, help_text="The quarter the usage belongs to.")
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.USAGE)
    account_id = models.BigIntegerField(null=True)
    account_name = models.CharField(max_length=120, blank=True)
    provider = models.CharField(max_length=16, blank=True)
    key_id = models.BigIntegerField(null=True)
    key_name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=128)
    cost_center_id = models.BigIntegerField(null=True)
    cost_center_code = models.CharField(max_length=32, blank=True)
    cost_center_name = models.CharField(max_length=120, blank=True)
    team_id = models.BigIntegerField(null=True)
    team_name = models.CharField(max_length=120, blank=True)
    project_id = models.BigIntegerField(null=True)
    project_name = models.CharField(max_length=120, blank=True)
    user_id = models.BigIntegerField(null=True)
    user_name = models.CharField(max_length=254, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    source = models.CharField(max_length=12, choices=Source.choices)
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(null=True)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=6)

    class Meta:
        indexes = [
            models.Index(fields=["close", "cost_center_code", "team_name"], name="frozen_line_order_idx"),
            models.Index(fields=["for_quarter"], name="frozen_line_quarter_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.for_quarter} {self.team_name or 'unattributed'} {self.model} ${self.cost_usd}"


class StripeCustomer(models.Model):
    """Which Stripe customer a cost center's invoices go to (finance sets it on the chargeback page)."""

    cost_center = models.OneToOneField("accounts.CostCenter", on_delete=models.CASCADE, related_name="+")
    customer_id = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.cost_center_id} → {self.customer_id}"


class StripeInvoice(models.Model):
    """The one Stripe invoice of a cost center for a closed quarter; each Stripe id is stored as soon as it exists,
    so a second click or a retried run picks up where the first stopped."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open (finalized)"
        PAID = "paid", "Paid"
        VOID = "void", "Void"
        UNCOLLECTIBLE = "uncollectible", "Uncollectible"

    quarter = models.CharField(max_length=10)
    cost_center = models.ForeignKey("accounts.CostCenter", on_delete=models.PROTECT, related_name="+")
    customer_id = models.CharField(max_length=64)
    invoice_id = models.CharField(max_length=64, blank=True)
    item_ids = models.JSONField(default=dict, blank=True, help_text="Line key → Stripe invoice item id.")
    number = models.CharField(max_length=64, blank=True)
    hosted_url = models.URLField(max_length=500, blank=True)
    amount_cents = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_at = models.DateTimeField(null=True, blank=True, help_text="When Stripe's last applied event happened.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["quarter", "cost_center__code"]
        constraints = [
            models.UniqueConstraint(fields=["quarter", "cost_center"], name="stripe_invoice_one_per_cost_center")
        ]

    def __str__(self) -> str:
        return f"{self.quarter} {self.cost_center_id} {self.invoice_id or '(not created)'}"

    @property
    def amount_usd(self) -> Decimal:
        return Decimal(self.amount_cents) / 100

    @property
    def finalized(self) -> bool:
        return self.status != self.Status.DRAFT
