"""Provider accounts, policy, keys and key requests; the usage models and the simulated provider's state are
registered here too (defined in allocator/usage/models.py and allocator/providers/simulated/models.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from allocator.crypto import EncryptedTextField
from allocator.money import COLUMN_MAX_USD
from allocator.providers import kind_choices

# Longest reason a person may give for rejecting a request (the form and the API allow the same).
REASON_MAX_LENGTH = 1000
# Longest purpose of a key request, or reason for a bump (free text shown on the request's page).
PURPOSE_MAX_LENGTH = 2000
# An approved request with no key after this long says the worker or broker may be down.
MINT_WAIT_NOTICE_AFTER = timedelta(minutes=1)


class InvalidTransition(Exception):
    """A state change that the object's current state does not allow (shown to the user as is)."""


# The provider kinds, from the registry in allocator/providers (ProviderKind.OPENAI == "openai").
ProviderKind = models.TextChoices("ProviderKind", [(kind.upper(), (kind, label)) for kind, label in kind_choices()])


class OneRowSettings(models.Model):
    """A settings table of one row (pk=1), created with its defaults on first read: Policy here and
    budgets.models.BudgetPolicy."""

    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        abstract = True

    @classmethod
    def current(cls) -> Self:
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class Policy(OneRowSettings):
    """Global policy, one row (pk=1): approvals, secrets and usage data. Provider accounts may override the
    approval limits. How budgets are alerted and enforced is budgets.models.BudgetPolicy."""

    default_allowance_usd = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("100.00"))
    auto_approve_limit_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("50.00"),
        help_text="Key requests and bumps at or under this quarterly amount are approved automatically.",
    )
    finance_approval_above_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("1000.00"),
        help_text="Above this amount finance approves too, after the manager (two-step).",
    )
    secret_reveal_hours = models.PositiveIntegerField(default=24)
    sync_overlap_hours = models.PositiveIntegerField(default=48)
    usage_retention_months = models.PositiveIntegerField(default=13)

    class Meta:
        verbose_name_plural = "policy"

    def __str__(self) -> str:
        return "Policy"


class ProviderAccount(models.Model):
    """One connected account at a provider. The admin credential is encrypted at rest."""

    class Status(models.TextChoices):
        UNCHECKED = "unchecked", "Not checked yet"
        OK = "ok", "Connected"
        CREDENTIALS_INVALID = "credentials_invalid", "Credentials invalid"
        ERROR = "error", "Error"

    kind = models.CharField(max_length=16, choices=ProviderKind.choices)
    name = models.CharField(max_length=80, unique=True)
    base_url = models.URLField(blank=True, help_text="Leave blank for the provider's public API.")
    credential = EncryptedTextField(blank=True, help_text="Admin / management key. Stored encrypted.")
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Provider options, e.g. {"project_id": "proj_…"} for OpenAI.',
    )
    allowed_models = models.JSONField(default=list, blank=True, help_text="Default model allow-list.")
    enabled = models.BooleanField(default=True)
    auto_approve_limit_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Overrides the global policy."
    )
    finance_approval_above_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Overrides the global policy."
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.UNCHECKED)
    status_message = models.TextField(blank=True)
    status_checked_at = models.DateTimeField(null=True, blank=True)
    synced_until = models.DateTimeField(null=True, blank=True, help_text="End of the last complete usage pull.")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("allocator:account_detail", args=[self.pk])

    @property
    def team_id(self) -> None:
        return None

    def adapter(self):
        from allocator.providers import get_provider

        options = dict(self.options or {})
        options.setdefault("account_id", self.pk)
        return get_provider(self.kind, base_url=self.base_url, credential=self.credential, options=options)

    @property
    def capabilities(self):
        from allocator.providers import provider_class

        return provider_class(self.kind).capabilities

    def approval_limits(self, policy: Policy) -> tuple[Decimal, Decimal]:
        auto = self.auto_approve_limit_usd if self.auto_approve_limit_usd is not None else policy.auto_approve_limit_usd
        finance = (
            self.finance_approval_above_usd
            if self.finance_approval_above_usd is not None
            else policy.finance_approval_above_usd
        )
        return auto, finance


class ApprovalRequest(models.Model):
    """What key requests and budget bumps share: routing through policy and the approval state machine.

    pending → approved | rejected | cancelled. Requests at or under the auto-approve limit are approved at
    once; otherwise the team's manager decides, and finance decides too when `needs_finance` (two-step).
    Subclasses define `State` with at least PENDING, APPROVED, REJECTED and CANCELLED.
    """

    class Step(models.TextChoices):
        NONE = "", "—"
        MANAGER = "manager", "Manager"
        FINANCE = "finance", "Finance"

    awaiting_step = models.CharField(max_length=16, choices=Step.choices, blank=True, default="", db_index=True)
    needs_finance = models.BooleanField(default=False)
    auto_approved = models.BooleanField(default=False)
    manager_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    manager_approved_at = models.DateTimeField(null=True, blank=True)
    finance_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finance_approved_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def _require(self, *states: str) -> None:
        if self.state not in states:
            raise InvalidTransition(f"This request is {self.get_state_display().lower()}; it cannot be changed now.")

    def approve(self, *, by: Any) -> None:
        """Approve the step the request waits for; the manager step hands over to finance when needed."""
        self._require(self.State.PENDING)
        now = timezone.now()
        if self.awaiting_step == self.Step.MANAGER:
            self.manager_approved_by, self.manager_approved_at = by, now
            if self.needs_finance:
                self.awaiting_step = self.Step.FINANCE
                return
        elif self.awaiting_step == self.Step.FINANCE:
            self.finance_approved_by, self.finance_approved_at = by, now
        self.awaiting_step = ""
        self.state = self.State.APPROVED
        self.decided_by, self.decided_at = by, now

    def reject(self, *, by: Any, reason: str) -> None:
        self._require(self.State.PENDING)
        if not reason.strip():
            raise InvalidTransition("Say why the request is rejected.")
        if len(reason.strip()) > REASON_MAX_LENGTH:
            raise InvalidTransition(f"The reason is too long: at most {REASON_MAX_LENGTH:,} characters.")
        self.state = self.State.REJECTED
        self.awaiting_step = ""
        self.decided_by, self.decided_at, self.decision_reason = by, timezone.now(), reason.strip()

    def cancel(self, *, by: Any) -> None:
        self._require(*self.cancellable_states())
        self.state = self.State.CANCELLED
        self.awaiting_step = ""
        self.decided_by, self.decided_at = by, timezone.now()

    @classmethod
    def cancellable_states(cls) -> tuple[str, ...]:
        return (cls.State.PENDING,)

    def next_approvers(self) -> list[Any]:
        """Who decides the step this request waits for: the team's managers or finance, never the requester."""
        from accounts.services import finance_people, team_managers

        if self.awaiting_step == self.Step.FINANCE:
            people = finance_people()
        elif self.awaiting_step == self.Step.MANAGER:
            people = team_managers(self.team) if self.team_id else []
        else:
            return []
        return [person for person in people if person.pk != self.requester_id]


class KeyRequest(ApprovalRequest):
    """A request for a provider key: pending → approved → minted | rejected | cancelled | failed."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved, minting"
        MINTED = "minted", "Minted"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="key_requests")
    account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="key_requests")
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="key_requests")
    project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="key_requests"
    )
    name = models.CharField(max_length=80)
    purpose = models.TextField()
    allowance_usd = models.DecimalField(max_digits=12, decimal_places=2)
    expires_on = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    failure_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    mint_claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set while a worker is minting, so a second worker stands back."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(allowance_usd__gte=0, allowance_usd__lte=COLUMN_MAX_USD),
                name="key_request_allowance_in_range",
            )
        ]

    def __str__(self) -> str:
        return f"Key request #{self.pk} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("allocator:request_detail", args=[self.pk])

    @property
    def owner_label(self) -> str:
        return f"project {self.project}" if self.project_id else str(self.requester)

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.PENDING, self.State.APPROVED, self.State.FAILED)

    @property
    def mint_waiting(self) -> bool:
        """Approved a while ago and still no key: the worker or the broker is likely down (the sweeper resends)."""
        return self.state == self.State.APPROVED and self.updated_at < timezone.now() - MINT_WAIT_NOTICE_AFTER

    def submit(self, *, auto_limit: Decimal, finance_above: Decimal, over_budget: bool = False) -> None:
        """Route a new request through policy: auto-approve, manager, or manager then finance. A request whose
        owner is over a hard budget is never approved automatically (`over_budget`)."""
        self.needs_finance = self.allowance_usd > finance_above
        if self.allowance_usd <= auto_limit and not self.needs_finance and not over_budget:
            self.state = self.State.APPROVED
            self.auto_approved = True
            self.awaiting_step = ""
        else:
            self.state = self.State.PENDING
            self.awaiting_step = self.Step.MANAGER

    @classmethod
    def cancellable_states(cls) -> tuple[str, ...]:
        return (cls.State.PENDING, cls.State.FAILED)

    def mark_minted(self) -> None:
        self._require(self.State.APPROVED)
        self.state = self.State.MINTED
        self.failure_message = ""

    def mark_failed(self, message: str) -> None:
        self._require(self.State.APPROVED)
        self.state = self.State.FAILED
        self.failure_message = message

    def retry(self) -> None:
        self._require(self.State.FAILED)
        self.state = self.State.APPROVED
        self.failure_message = ""


class Key(models.Model):
    """A scoped provider key. Only a redacted hint and the provider's id are kept, never the secret,
    except encrypted in `pending_secret` until the requester has seen it once (or it expires)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="keys")
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="keys"
    )
    owner_project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="keys"
    )
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="keys")
    name = models.CharField(max_length=80)
    provider_key_id = models.CharField(max_length=128)
    hint = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    status_reason = models.CharField(max_length=200, blank=True)
    provider_data = models.JSONField(default=dict, blank=True)
    limit_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    request = models.OneToOneField(KeyRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="key")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported = models.BooleanField(default=False, help_text="Created at the provider and imported by an admin.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    pending_secret = EncryptedTextField(blank=True)
    secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_revealed_at = models.DateTimeField(null=True, blank=True)
    action_claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set while a rotate, suspend, reinstate or revoke calls the provider."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "provider_key_id"], name="key_unique_provider_id"),
            models.CheckConstraint(
                condition=Q(owner_user__isnull=False, owner_project__isnull=True)
                | Q(owner_user__isnull=True, owner_project__isnull=False),
                name="key_exactly_one_owner",
            ),
            models.CheckConstraint(
                condition=Q(limit_usd__isnull=True) | Q(limit_usd__gte=0, limit_usd__lte=COLUMN_MAX_USD),
                name="key_limit_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint})" if self.hint else self.name

    def get_absolute_url(self) -> str:
        return reverse("allocator:key_detail", args=[self.pk])

    @property
    def owner(self) -> Any:
        return self.owner_user or self.owner_project

    @property
    def owner_label(self) -> str:
        return f"project {self.owner_project}" if self.owner_project_id else str(self.owner_user)

    @property
    def secret_available(self) -> bool:
        return bool(self.pending_secret) and (self.secret_expires_at is None or self.secret_expires_at > timezone.now())

    @classmethod
    def fit(cls, field_name: str, text: str) -> str:
        """`text` cut to fit the column (ending in "…"): for text Allocator writes itself, e.g. enforcement reasons."""
        limit = cls._meta.get_field(field_name).max_length
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

    def hold_secret(self, secret: str, *, hours: int) -> None:
        self.pending_secret = secret
        self.secret_expires_at = timezone.now() + timedelta(hours=hours)
        self.secret_revealed_at = None

    def take_secret(self) -> str:
        """Return the secret once and destroy it."""
        if not self.secret_available:
            raise InvalidTransition("This key's secret was already shown (or expired). Rotate the key for a new one.")
        secret = self.pending_secret
        self.pending_secret = ""
        self.secret_revealed_at = timezone.now()
        return secret

    def destroy_secret(self) -> None:
        self.pending_secret = ""

    def mark_suspended(self, reason: str) -> None:
        if self.status != self.Status.ACTIVE:
            raise InvalidTransition(f"Only an active key can be suspended; this one is {self.status}.")
        self.status = self.Status.SUSPENDED
        self.status_reason = reason
        self.suspended_at = timezone.now()

    def mark_reinstated(self) -> None:
        if self.status != self.Status.SUSPENDED:
            raise InvalidTransition(f"Only a suspended key can be reinstated; this one is {self.status}.")
        self.status = self.Status.ACTIVE
        self.status_reason = ""
        self.suspended_at = None

    def mark_revoked(self, reason: str = "") -> None:
        if self.status == self.Status.REVOKED:
            raise InvalidTransition("This key is already revoked.")
        self.status = self.Status.REVOKED
        self.status_reason = reason
        self.revoked_at = timezone.now()
        self.pending_secret = ""


# Defined beside their features, registered in this app (same tables, same migrations).
from allocator.capacity.models import CapacityRead, DemandPeak, RateLimitRecord, ThrottleHint  # noqa: E402
from allocator.coding.models import CodingIdentity, CodingSeat, CodingSummary, CodingUsage  # noqa: E402
from allocator.providers.simulated.models import SimulatedKey  # noqa: E402
from allocator.usage.models import (  # noqa: E402
    BilledCost,
    DailyRollup,
    DailySummary,
    ModelPrice,
    SyncRun,
    UsageBucket,
    UsageGap,
    UsageSummary,
)

__all__ = [
    "ApprovalRequest",
    "BilledCost",
    "CapacityRead",
    "CodingIdentity",
    "CodingSeat",
    "CodingSummary",
    "CodingUsage",
    "DailyRollup",
    "DailySummary",
    "DemandPeak",
    "InvalidTransition",
    "Key",
    "KeyRequest",
    "ModelPrice",
    "Policy",
    "ProviderAccount",
    "ProviderKind",
    "RateLimitRecord",
    "SimulatedKey",
    "SyncRun",
    "ThrottleHint",
    "UsageBucket",
    "UsageGap",
    "UsageSummary",
]
