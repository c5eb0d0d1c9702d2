"""Budgets, budget requests (bumps), per-key enforcement state, the alert outbox and the budget policy.

Scopes: a budget belongs to a cost center, a team, a project or a person, for one fiscal quarter. Project and
person budgets are slices of a team's budget, so they also carry that team (`team`): it is what the manager
splits, what Access judges them by, and the parent that a split may not exceed. `scope` says which of the
foreign keys is the budget's own; a check constraint keeps the combination consistent.

Money columns hold cents (`max_digits=12, decimal_places=2`); check constraints keep every amount within
0..allocator.money.COLUMN_MAX_USD, so no stored value can make reading or computing with it fail (on SQLite an
out-of-range value used to be stored and then raised `decimal.InvalidOperation` on every read).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from allocator.crypto import EncryptedTextField
from allocator.models import ApprovalRequest, OneRowSettings
from allocator.money import COLUMN_MAX_USD
from allocator.quarters import Quarter


class Scope(models.TextChoices):
    COST_CENTER = "cost_center", "Cost center"
    TEAM = "team", "Team"
    PROJECT = "project", "Project"
    USER = "user", "Person"


# Which foreign keys each scope fills in: its own, plus the team it is a slice of (project, person).
_SCOPE_SHAPES = {
    Scope.COST_CENTER: Q(cost_center__isnull=False, team__isnull=True, project__isnull=True, user__isnull=True),
    Scope.TEAM: Q(cost_center__isnull=True, team__isnull=False, project__isnull=True, user__isnull=True),
    Scope.PROJECT: Q(cost_center__isnull=True, team__isnull=False, project__isnull=False, user__isnull=True),
    Scope.USER: Q(cost_center__isnull=True, team__isnull=False, project__isnull=True, user__isnull=False),
}


DEFAULT_THRESHOLDS = [50, 80, 100]
MAX_THRESHOLD = 200  # percent; a crossing past twice the budget is the last one worth announcing
MAX_CAPACITY_PERCENT = 100  # a peak alert at the limit itself is the last one worth announcing
MAX_CAPACITY_DAYS = 180  # the crossover is projected this far ahead (allocator.capacity.headroom)


def default_thresholds() -> list[int]:
    return list(DEFAULT_THRESHOLDS)


def scope_key(scope: str, pk: int) -> str:
    """A short stable name of one scope, e.g. "team:3"; enforcement and alerts key on it."""
    return f"{scope}:{pk}"


class Budget(models.Model):
    """An amount (USD) for one scope and one fiscal quarter. Hard budgets suspend keys at 100 %."""

    scope = models.CharField(max_length=16, choices=Scope.choices)
    cost_center = models.ForeignKey(
        "accounts.CostCenter", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets")
    project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    quarter = models.CharField(max_length=10, db_index=True, help_text="Fiscal quarter, e.g. FY2027-Q1.")
    quarter_start = models.DateField()
    amount_usd = models.DecimalField(max_digits=12, decimal_places=2)
    hard = models.BooleanField(default=True, help_text="Hard: keys are suspended at 100 %. Soft: alerts only.")
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["quarter_start", "scope", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    (Q(scope=Scope.COST_CENTER) & _SCOPE_SHAPES[Scope.COST_CENTER])
                    | (Q(scope=Scope.TEAM) & _SCOPE_SHAPES[Scope.TEAM])
                    | (Q(scope=Scope.PROJECT) & _SCOPE_SHAPES[Scope.PROJECT])
                    | (Q(scope=Scope.USER) & _SCOPE_SHAPES[Scope.USER])
                ),
                name="budget_scope_shape",
            ),
            models.CheckConstraint(condition=Q(amount_usd__gte=0), name="budget_amount_not_negative"),
            models.CheckConstraint(condition=Q(amount_usd__lte=COLUMN_MAX_USD), name="budget_amount_fits_column"),
            models.UniqueConstraint(
                fields=["cost_center", "quarter"], condition=Q(scope="cost_center"), name="budget_unique_cost_center"
            ),
            models.UniqueConstraint(fields=["team", "quarter"], condition=Q(scope="team"), name="budget_unique_team"),
            models.UniqueConstraint(
                fields=["project", "quarter"], condition=Q(scope="project"), name="budget_unique_project"
            ),
            models.UniqueConstraint(fields=["user", "quarter"], condition=Q(scope="user"), name="budget_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.scope_label} {self.quarter}"

    def get_absolute_url(self) -> str:
        return reverse("budgets:detail", args=[self.pk])

    @property
    def scope_id(self) -> int:
        return {
            Scope.COST_CENTER: self.cost_center_id,
            Scope.TEAM: self.team_id,
            Scope.PROJECT: self.project_id,
            Scope.USER: self.user_id,
        }[self.scope]

    @property
    def scope_key(self) -> str:
        return scope_key(self.scope, self.scope_id)

    @property
    def scope_object(self) -> Any:
        return {
            Scope.COST_CENTER: self.cost_center,
            Scope.TEAM: self.team,
            Scope.PROJECT: self.project,
            Scope.USER: self.user,
        }[self.scope]

    @property
    def scope_label(self) -> str:
        obj = self.scope_object
        if self.scope == Scope.COST_CENTER:
            return f"cost center {obj}"
        if self.scope == Scope.USER:
            return str(obj)
        return f"{self.get_scope_display().lower()} {obj}"

    @property
    def scope_title(self) -> str:
        """scope_label for the start of a sentence ("Team Search", "Erin Engineer")."""
        label = self.scope_label
        return label[:1].upper() + label[1:]

    @property
    def kind_label(self) -> str:
        return "hard" if self.hard else "soft"

    def copy_to(self, quarter: Quarter, *, set_by_id: int | None) -> Budget:
        """An unsaved copy of this budget (same scope, amount and kind) for another quarter."""
        return Budget(
            scope=self.scope,
            cost_center_id=self.cost_center_id,
            team_id=self.team_id,
            project_id=self.project_id,
            user_id=self.user_id,
            quarter=quarter.name,
            quarter_start=quarter.start,
            amount_usd=self.amount_usd,
            hard=self.hard,
            set_by_id=set_by_id,
        )

    noun = "budget"  # what alerts call it (a key's allowance says "quarterly allowance")

    def alert_targets(self) -> dict:
        """Who an alert about this budget concerns (see budgets.alerts.alert_recipients)."""
        return {
            "budget": self,
            "cost_center_id": self.cost_center_id,
            "team_id": self.team_id,
            "project_id": self.project_id,
            "user_id": self.user_id,
        }


class BudgetRequest(ApprovalRequest):
    """A bump: more money for one budget, or for one key's quarterly allowance, this quarter.
    pending → approved | rejected | cancelled.

    Routed like key requests (allocator.models.KeyRequest): auto-approved at or under the policy limit, else the
    team's manager decides, and finance decides too above the finance threshold, or when the bump would take a
    team past its own budget. Team budgets are finance's, so their bumps go to finance directly.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    # Exactly one target: a budget, or a key's allowance (Key.limit_usd, raised by budgets.allowance).
    budget = models.ForeignKey(Budget, null=True, blank=True, on_delete=models.CASCADE, related_name="requests")
    key = models.ForeignKey(
        "allocator.Key", null=True, blank=True, on_delete=models.CASCADE, related_name="allowance_requests"
    )
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="budget_requests")
    # The team whose manager decides (the budget's team); empty for cost-center budgets (finance decides).
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="budget_requests"
    )
    amount_usd = models.DecimalField(max_digits=12, decimal_places=2, help_text="Extra amount for this quarter.")
    reason = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_usd__gt=0), name="budget_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_usd__lte=COLUMN_MAX_USD), name="budget_request_amount_fits_column"
            ),
            models.CheckConstraint(
                condition=Q(budget__isnull=False, key__isnull=True) | Q(budget__isnull=True, key__isnull=False),
                name="budget_request_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"Budget request #{self.pk} +${self.amount_usd}"

    def get_absolute_url(self) -> str:
        return reverse("budgets:bump_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.state == self.State.PENDING

    @property
    def target_label(self) -> str:
        """What the bump raises: "team Search (FY2027-Q1)" or "the allowance of key erin-dev"."""
        if self.budget_id is None:
            return f"the allowance of key {self.key.name}"
        return f"{self.budget.scope_label} ({self.budget.quarter})"

    def submit(self, *, auto_limit: Decimal, finance_above: Decimal, finance_only: bool, exceeds_parent: bool) -> None:
        """Route a new request: auto-approve, manager, manager then finance, or finance alone."""
        self.needs_finance = finance_only or exceeds_parent or self.amount_usd > finance_above
        if finance_only:
            self.state, self.awaiting_step = self.State.PENDING, self.Step.FINANCE
        elif self.amount_usd <= auto_limit and not self.needs_finance:
            self.state, self.awaiting_step, self.auto_approved = self.State.APPROVED, "", True
            self.decided_at = timezone.now()
        else:
            self.state, self.awaiting_step = self.State.PENDING, self.Step.MANAGER


class KeyEnforcement(models.Model):
    """What budget enforcement did to one key: why it suspended it, the cap it set at the provider."""

    class SuspendedBy(models.TextChoices):
        NONE = "", "—"
        BUDGET = "budget", "Budget"
        RUNAWAY = "runaway", "Runaway spend"

    key = models.OneToOneField("allocator.Key", on_delete=models.CASCADE, primary_key=True, related_name="enforcement")
    suspended_by = models.CharField(max_length=16, choices=SuspendedBy.choices, blank=True, default="")
    scope_key = models.CharField(max_length=40, blank=True, help_text="The budget that decided, e.g. team:3.")
    note = models.CharField(max_length=300, blank=True, help_text="Shown beside the key (e.g. cannot suspend).")
    provider_limit_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    provider_limit_set_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(provider_limit_usd__isnull=True)
                | Q(provider_limit_usd__gte=0, provider_limit_usd__lte=COLUMN_MAX_USD),
                name="key_enforcement_provider_limit_fits_column",
            )
        ]

    def __str__(self) -> str:
        return f"Enforcement of key {self.key_id}"


class Alert(models.Model):
    """One message to send (the outbox). A row is written first, then a worker delivers it with retries.

    The unique constraint on (kind, scope_key, quarter, threshold, dedupe) is what makes "one alert per
    threshold crossing per scope per quarter" hold when two enforcement runs race: both insert, one wins.
    `dedupe` holds the budget amount for budget alerts (a bump is a new budget, so crossing its 80 % again
    is a new crossing), the hour for runaway alerts, and the approval step for approval messages.
    """

    class Kind(models.TextChoices):
        THRESHOLD = "threshold", "Threshold"
        FORECAST = "forecast", "Forecast"
        RUNAWAY = "runaway", "Runaway spend"
        SUSPENSION = "suspension", "Suspension"
        APPROVAL = "approval", "Waiting for approval"
        EVENT = "event", "Event (webhooks only)"
        HISTORY_GAP = "history_gap", "Usage history lost"
        # Provider rate limits (allocator/capacity/alerts.py): a day's busiest minute past the policy share of a
        # limit, and a projected crossover within the policy's days.
        CAPACITY_PEAK = "capacity_peak", "Capacity peak"
        CAPACITY_CROSSOVER = "capacity_crossover", "Capacity crossover"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Superseded"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    scope = models.CharField(max_length=16, blank=True)
    scope_key = models.CharField(max_length=40)
    quarter = models.CharField(max_length=10)
    threshold = models.PositiveSmallIntegerField(default=0)
    dedupe = models.CharField(max_length=40, blank=True, default="")
    budget = models.ForeignKey(Budget, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    cost_center = models.ForeignKey(
        "accounts.CostCenter", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.ForeignKey("allocator.Key", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    message = models.TextField()
    url = models.CharField(max_length=300, blank=True, help_text="Path of the page the message links to.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    channel = models.CharField(max_length=120, blank=True, help_text="Where it went, e.g. slack:team, email.")
    delivered_to = models.JSONField(default=list, blank=True, help_text="Destinations done (never sent twice).")
    notified_at = models.DateTimeField(null=True, blank=True, help_text="In-app notifications written.")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "scope_key", "quarter", "threshold", "dedupe"], name="alert_one_per_crossing"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="alert_outbox_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:60]}"

    @property
    def label(self) -> str:
        """The kind as pages show it: "Threshold 80 %", "Capacity peak ≥ 80 %", "Capacity crossover"."""
        if self.kind == self.Kind.THRESHOLD and self.threshold:
            return f"{self.get_kind_display()} {self.threshold}\u00a0%"
        if self.kind == self.Kind.CAPACITY_PEAK:
            return f"{self.get_kind_display()} \u2265\u00a0{self.threshold}\u00a0%"
        return self.get_kind_display()

    @property
    def tone(self) -> str:
        """The badge colour of the kind: bad (urgent), warn (a date ahead) or info."""
        if self.is_urgent:
            return "bad"
        return "warn" if self.kind in (self.Kind.FORECAST, self.Kind.CAPACITY_CROSSOVER) else "info"

    @property
    def identity(self) -> tuple[str, str, str, int, str]:
        return (self.kind, self.scope_key, self.quarter, self.threshold, self.dedupe)

    @property
    def is_urgent(self) -> bool:
        return self.kind in (self.Kind.RUNAWAY, self.Kind.SUSPENSION) or (
            self.kind == self.Kind.THRESHOLD and self.threshold >= 100
        )


class BudgetPolicy(OneRowSettings):
    """How budgets are watched and enforced, one row (pk=1): alert thresholds, forecast warnings, runaway
    detection, the finance Slack webhook and who sees whom on the leaderboards. Approval limits, secrets and
    usage settings stay on allocator.models.Policy."""

    alert_thresholds = models.JSONField(
        default=default_thresholds, help_text="Percent of budget, e.g. [50, 80, 100]; each crossing alerts once."
    )
    runaway_multiplier = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("5.00"))
    runaway_min_usd = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("10.00"))
    suspend_on_runaway = models.BooleanField(default=False)
    forecast_alert_days = models.PositiveIntegerField(default=14)
    finance_slack_webhook_url = EncryptedTextField(blank=True)
    # Caps at the provider (budgets/provider_caps.py) and the fast lane (budgets/fast_lane.py).
    degrade_at_percent = models.PositiveSmallIntegerField(
        default=90, help_text="Share of a hard budget at which a mapped scope keeps only small-tier models; 0 = never."
    )
    fast_lane_percent = models.PositiveSmallIntegerField(
        default=80, help_text="Share of a hard budget from which a scope's keys are synced every minute; 0 = never."
    )
    fast_lane_calls_per_minute = models.PositiveSmallIntegerField(
        default=30, help_text="At most this many provider calls a minute for the fast lane."
    )
    # Capacity alerts (allocator/capacity/alerts.py); blank: the server's CAPACITY_ALERT_PERCENT / _CROSSOVER_DAYS.
    capacity_alert_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAPACITY_PERCENT)],
        help_text="Alert when a day's busiest minute reaches this share of a rate limit.",
    )
    capacity_crossover_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CAPACITY_DAYS)],
        help_text="Alert when demand is projected to cross a rate limit within this many days.",
    )
    # Who sees whom on the leaderboards (accounts.permissions.Access.leaderboard_scope reads these).
    engineers_see_names = models.BooleanField(
        default=False, help_text="Engineers see their teams' leaderboards with names, not only their own position."
    )
    managers_see_other_teams = models.BooleanField(
        default=False, help_text="Managers see every team's leaderboard, not only their own teams'."
    )

    class Meta:
        verbose_name = "budget policy"
        verbose_name_plural = "budget policy"

    def __str__(self) -> str:
        return "Budget policy"

    @property
    def capacity_percent(self) -> int:
        """The share of a rate limit a peak minute alerts at: the policy's, else the server's setting."""
        return self.capacity_alert_percent or settings.CAPACITY_ALERT_PERCENT

    @property
    def capacity_days(self) -> int:
        """How near a projected crossover alerts: the policy's, else the server's setting."""
        return self.capacity_crossover_days or settings.CAPACITY_CROSSOVER_DAYS

    @property
    def thresholds(self) -> list[int]:
        """The alert thresholds as sorted whole percentages; whatever is stored, never raises (entries that are
        not whole percentages in 1..MAX_THRESHOLD are ignored, and none at all means the defaults)."""
        stored = self.alert_thresholds if isinstance(self.alert_thresholds, list) else []
        values = set()
        for value in stored:
            try:
                percent = int(value)
            except (TypeError, ValueError, OverflowError):
                continue
            if 0 < percent <= MAX_THRESHOLD:
                values.add(percent)
        return sorted(values) or default_thresholds()


class SeriesSnapshot(models.Model):
    """The daily spend of every budget scope over the forecast's look-back, as the last enforcement run read it
    (one row): pages that show many scopes read this instead of six weeks of rollups (budgets/series_store.py)."""

    computed_for = models.DateField(help_text="The run's today: the series are the complete days before it.")
    computed_at = models.DateTimeField(default=timezone.now)
    series = models.JSONField(default=dict, help_text='{"team:3": [micro-dollars per day, oldest first]}')
    outlooks = models.JSONField(
        default=dict, help_text='{"user:7": ["<budget>", "<spend>", "ok|warn|over"]}: each budget\'s forecast status'
    )

    class Meta:
        verbose_name = "daily series snapshot"

    def __str__(self) -> str:
        return f"Daily series for {self.computed_for}"


from budgets.increase_request_models import SpendLimitRequest  # noqa: E402, F401 - registered with the budgets app
from budgets.provider_cap_models import ProviderCap  # noqa: E402, F401 - registered with the budgets app
from budgets.reports.models import FrozenLine, QuarterClose, StripeCustomer, StripeInvoice  # noqa: E402, F401
from budgets.webhooks import WebhookDestination  # noqa: E402, F401
