"""Capacity rows, registered in the `allocator` app (allocator/models.py imports them): limits, daily demand peaks,
429 hints and the last read of each account. Demand is kept per day (peak and p99 minute), never per minute."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from allocator.providers import capacity

MAX_LIMIT = 10**12  # a limit typed by hand is at most a trillion (tokens or requests)
SCOPE_MAX = 80


class RateLimitRecord(models.Model):
    """One limiter of one provider account × scope × model × dimension, read from the provider or recorded by hand.

    A manual record of the same limiter wins over the provider's (an admin records "the real one, where things
    start breaking"); both are kept and shown."""

    class Source(models.TextChoices):
        PROVIDER = "provider", "Read from the provider"
        MANUAL = "manual", "Recorded by hand"

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="rate_limits")
    scope = models.CharField(
        max_length=SCOPE_MAX, blank=True, help_text="Project or workspace id; blank: the whole organization."
    )
    model = models.CharField(max_length=120)
    dimension = models.CharField(max_length=32, choices=capacity.DIMENSIONS)
    value = models.PositiveBigIntegerField()
    org_limit = models.PositiveBigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    note = models.CharField(max_length=200, blank=True)
    read_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["account__name", "model", "dimension", "scope"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "scope", "model", "dimension", "source"], name="rate_limit_one_per_source"
            ),
            models.CheckConstraint(condition=Q(value__gt=0, value__lte=MAX_LIMIT), name="rate_limit_value_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.model} {self.get_dimension_display()}: {self.value:,}"

    def get_absolute_url(self) -> str:
        return reverse("capacity:detail", args=[self.pk])

    @property
    def identity(self) -> tuple[int, str, str, str]:
        return (self.account_id, self.scope, self.model, self.dimension)

    @property
    def per_minute(self) -> bool:
        return self.dimension in capacity.MINUTE_DIMENSIONS

    @property
    def per_day(self) -> bool:
        return self.dimension in capacity.DAY_DIMENSIONS


class DemandPeak(models.Model):
    """The busiest minute, the 99th-percentile minute and the sum of the minutes of one UTC day, per account × scope
    × model × dimension, counted as the limiter counts (providers/capacity.py). Scope blank is the account's whole
    demand. Per-minute limits read the peak, per-day limits (requests, batch tokens) the total."""

    account = models.ForeignKey(
        "allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    scope = models.CharField(max_length=SCOPE_MAX, blank=True)
    model = models.CharField(max_length=120)
    day = models.DateField()
    dimension = models.CharField(max_length=32, choices=capacity.DIMENSIONS)
    peak = models.PositiveBigIntegerField()
    p99 = models.PositiveBigIntegerField()
    minutes = models.PositiveIntegerField(help_text="Minutes of the day the pull covered.")
    total = models.PositiveBigIntegerField(default=0, help_text="Sum of the day's minutes (what per-day limits count).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "scope", "model", "dimension", "day"], name="demand_peak_one_per_day"
            )
        ]
        indexes = [models.Index(fields=["day"], name="demand_peak_day_idx")]

    def __str__(self) -> str:
        return f"{self.model} {self.day}: {self.peak:,}"


class ThrottleHint(models.Model):
    """429 answers our own calls to an account got on a day: a hint that the organization is near a limit."""

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="throttle_hint_one_per_day")]

    def __str__(self) -> str:
        return f"{self.account} {self.day}: {self.count} × 429"


class CapacityRead(models.Model):
    """When an account's limits and minute demand were last read, and the last error of each."""

    account = models.OneToOneField("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="capacity_read")
    limits_read_at = models.DateTimeField(null=True, blank=True)
    limits_error = models.CharField(max_length=300, blank=True)
    demand_read_at = models.DateTimeField(null=True, blank=True)
    demand_error = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"capacity reads of {self.account}"
