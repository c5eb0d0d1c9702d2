"""Usage facts: provider buckets, daily rollups, billed cost, manual prices and sync runs.

Registered in the `allocator` app (allocator/models.py imports them), so table names and migrations stay there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from allocator.providers import kind_choices

STALE_AFTER = timedelta(minutes=10)  # a RUNNING run without a heartbeat for this long belongs to a dead worker


class UsageBucket(models.Model):
    """One provider-reported bucket: time bucket × key × model (× other grouping dims). Upserted, never added."""

    class CostSource(models.TextChoices):
        PROVIDER = "provider", "Provider-reported"
        RECONCILED = "reconciled", "Estimate scaled to billed cost"
        PRICE_TABLE = "price_table", "Price table estimate"
        MANUAL = "manual", "Manual price"
        UNKNOWN = "unknown", "Unknown model (priced at zero)"

    # A fact table written a million rows at a time, so: no separate indexes on the two foreign keys (the
    # identity constraint starts with (account, bucket_start), which serves every bucket query: sync windows,
    # runaway hours, retention; pages read DailyRollup), and no database FK constraints (PostgreSQL checks
    # those row by row at commit). The sync only writes ids it just read; Django still applies on_delete.
    account = models.ForeignKey(
        "allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    key = models.ForeignKey(
        "allocator.Key",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    provider_key_id = models.CharField(max_length=128, blank=True, help_text="Empty = unattributed.")
    model = models.CharField(max_length=128)
    bucket_start = models.DateTimeField()
    bucket_width = models.CharField(max_length=4)
    dims = models.CharField(max_length=255, blank=True, default="")
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(null=True, blank=True)
    estimated_cost_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    cost_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    cost_source = models.CharField(max_length=16, choices=CostSource.choices, default=CostSource.PRICE_TABLE)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "bucket_start", "bucket_width", "provider_key_id", "model", "dims"],
                name="usage_bucket_identity",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:%M} {self.provider_key_id or 'unattributed'} {self.model}"


class DailyRollup(models.Model):
    """Usage per day × key × model, with the owner/team/cost center the key belonged to. Pages read this.

    Recomputed from buckets for every day a sync touched, so a re-pull corrects it.
    """

    day = models.DateField()
    # Derived rows, rebuilt set-based by every sync: no database FK constraints (checked row by row at commit on
    # PostgreSQL); Django still applies on_delete. No single-column indexes: the (column, day) indexes below
    # cover account, key, owner and team lookups.
    account = models.ForeignKey(
        "allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    provider = models.CharField(max_length=16, choices=kind_choices())
    key = models.ForeignKey(
        "allocator.Key",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rollups",
        db_index=False,
        db_constraint=False,
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    owner_project = models.ForeignKey(
        "accounts.Project",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    cost_center = models.ForeignKey(
        "accounts.CostCenter",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    model = models.CharField(max_length=128)
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))

    class Meta:
        indexes = [
            # Only what queries use (every index is paid by every rollup rebuild): a sync's days of one account,
            # one key's / person's / project's / team's days, and day ranges of the whole organisation.
            models.Index(fields=["account", "day"], name="rollup_account_day_idx"),
            models.Index(fields=["key", "day"], name="rollup_key_day_idx"),
            models.Index(fields=["owner_user", "day"], name="rollup_user_day_idx"),
            models.Index(fields=["owner_project", "day"], name="rollup_project_day_idx"),
            models.Index(fields=["team", "day"], name="rollup_team_day_idx"),
            models.Index(fields=["day"], name="rollup_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} ${self.cost_usd}"


class BilledCost(models.Model):
    """Provider-billed cost at its own grain (per day × project/workspace), beside our estimate for it."""

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    dims = models.CharField(max_length=255, blank=True, default="")
    billed_usd = models.DecimalField(max_digits=18, decimal_places=6)
    estimated_usd = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "day", "dims"], name="billed_cost_identity")]

    def __str__(self) -> str:
        return f"{self.account} {self.day} {self.dims} ${self.billed_usd}"


class ModelPrice(models.Model):
    """A manual price for a model the price table does not know (USD per million tokens)."""

    provider = models.CharField(max_length=16, choices=kind_choices())
    model = models.CharField(max_length=128)
    input_per_mtok = models.DecimalField(max_digits=12, decimal_places=4)
    cached_input_per_mtok = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    cache_write_per_mtok = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"))
    output_per_mtok = models.DecimalField(max_digits=12, decimal_places=4)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="model_price_unique")]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


class SyncRunQuerySet(models.QuerySet):
    def live(self, *, now: datetime | None = None) -> SyncRunQuerySet:
        """RUNNING runs whose worker is alive (heartbeat within STALE_AFTER); older RUNNING runs are orphans."""
        return self.filter(status=SyncRun.Status.RUNNING, heartbeat_at__gte=(now or timezone.now()) - STALE_AFTER)


class SyncRun(models.Model):
    """One pull from one provider account."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    # Indexed by (account, -started_at) below.
    account = models.ForeignKey(
        "allocator.ProviderAccount", on_delete=models.CASCADE, related_name="sync_runs", db_index=False
    )
    trigger = models.CharField(max_length=16, default="beat")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    pages = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    unknown_models = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = SyncRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        # An account's latest runs, and the latest runs of all accounts (the status page), without sorting them all.
        indexes = [
            models.Index(fields=["account", "-started_at"], name="syncrun_account_started_idx"),
            models.Index(fields=["-started_at"], name="syncrun_started_idx"),
        ]

    def __str__(self) -> str:
        return f"Sync {self.account} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration(self) -> timedelta | None:
        return (self.finished_at - self.started_at) if self.finished_at else None


class UsageGap(models.Model):
    """Days of usage a provider no longer serves that no sync pulled (allocator/usage/gaps.py): the provider keeps a
    short history (Cursor about a week) and the last complete pull ended before its oldest day. One row per gap,
    named by where the last pull ended; `lost_until` grows while the gap stays open."""

    account = models.ForeignKey("allocator.ProviderAccount", on_delete=models.CASCADE, related_name="usage_gaps")
    lost_from = models.DateTimeField(help_text="End of the last complete pull: the first moment no sync can fetch.")
    lost_until = models.DateTimeField(help_text="Start of the oldest day the provider still served when last seen.")
    detected_at = models.DateTimeField(default=timezone.now)
    alerted_at = models.DateTimeField(null=True, blank=True, help_text="When the alert went to the outbox.")

    class Meta:
        ordering = ["-lost_from"]
        constraints = [models.UniqueConstraint(fields=["account", "lost_from"], name="usage_gap_one_per_gap")]

    def __str__(self) -> str:
        return f"{self.account}: usage lost {self.lost_from:%Y-%m-%d} – {self.lost_until:%Y-%m-%d}"

    @property
    def last_day(self):
        return max(self.lost_from.date(), (self.lost_until - timedelta(days=1)).date())

    @property
    def lost_days(self) -> int:
        return (self.last_day - self.lost_from.date()).days + 1


# Summary money columns hold sums of many rollup rows (each at most 10^12 dollars): room for 10^22.
SUM_DIGITS = 28


class SummaryKind(models.TextChoices):
    """What a summary row sums: one person, project, team, cost center, key, model, provider, account, class, or all."""

    USER = "user", "Person"
    PROJECT = "project", "Project"
    TEAM = "team", "Team"
    COST_CENTER = "cost_center", "Cost center"
    KEY = "key", "Key"
    MODEL = "model", "Model"
    PROVIDER = "provider", "Provider"
    ACCOUNT = "account", "Provider account"
    CLASS = "class", "Build or run"  # ref: build (personal keys, build projects), run (run projects), unattributed
    ORG = "org", "Organisation"  # ref ""


class UsageSummary(models.Model):
    """Quarter totals of one scope, split by the team and cost center the usage was recorded under.

    Rebuilt from DailyRollup for a whole quarter whenever a sync changes one of its days (a few thousand rows a
    quarter, against hundreds of thousands of rollups), so boards that rank or compare scopes read this.
    `through` None is the quarter as synced; a date is the previous quarter up to the same day as today.
    """

    quarter_start = models.DateField()
    through = models.DateField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=SummaryKind.choices)
    ref = models.CharField(max_length=128, blank=True)
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    cost_center = models.ForeignKey(
        "accounts.CostCenter", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=SUM_DIGITS, decimal_places=6, default=Decimal("0"))
    small_tier_cost_usd = models.DecimalField(max_digits=SUM_DIGITS, decimal_places=6, default=Decimal("0"))
    active_days = models.PositiveIntegerField(default=0)
    last_day = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["quarter_start", "kind", "through"], name="summary_quarter_kind_idx")]

    def __str__(self) -> str:
        return f"{self.quarter_start} {self.kind}:{self.ref} ${self.cost_usd}"


class DailySummary(models.Model):
    """Cost per day of a few coarse scopes (teams, cost centers, providers, accounts, models, build/run, all).

    Rebuilt for the days a sync changed; charts and forecasts of organisation-wide pages read this.
    Class rows are split by cost center (build vs run per cost center); other kinds carry no cost center.
    """

    day = models.DateField()
    kind = models.CharField(max_length=16, choices=SummaryKind.choices)
    ref = models.CharField(max_length=128, blank=True)
    cost_center = models.ForeignKey(
        "accounts.CostCenter", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=SUM_DIGITS, decimal_places=6, default=Decimal("0"))
    unattributed_cost_usd = models.DecimalField(max_digits=SUM_DIGITS, decimal_places=6, default=Decimal("0"))

    class Meta:
        indexes = [models.Index(fields=["kind", "day"], name="daily_summary_kind_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind}:{self.ref} ${self.cost_usd}"
