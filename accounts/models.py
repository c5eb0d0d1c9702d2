"""People, the organisation tree (cost center → team → project), roles and the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.urls import reverse
from django.utils import timezone

from allocator.crypto import EncryptedTextField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True, role=User.Role.ADMIN)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Signs in with email. `role` is the global role; team roles live on Membership."""

    class Role(models.TextChoices):
        ENGINEER = "engineer", "Engineer"
        FINANCE = "finance", "Finance"
        ADMIN = "admin", "Admin"

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ENGINEER)
    slack_user_id = models.CharField(max_length=32, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["full_name", "email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_admin(self) -> bool:
        return self.is_superuser or self.role == self.Role.ADMIN

    @property
    def is_finance(self) -> bool:
        return self.role == self.Role.FINANCE

    @property
    def short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0].split("@")[0]


class CostCenter(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Team(models.Model):
    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="teams")
    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    slack_webhook_url = EncryptedTextField(blank=True, help_text="Incoming webhook for this team's alerts.")
    members = models.ManyToManyField(User, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def managers(self) -> models.QuerySet[User]:
        return self.members.filter(membership__role=Membership.Role.MANAGER, membership__team=self)


class Membership(models.Model):
    class Role(models.TextChoices):
        ENGINEER = "engineer", "Engineer"
        MANAGER = "manager", "Manager"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ENGINEER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Project(models.Model):
    class Kind(models.TextChoices):
        BUILD = "build", "Build (R&D, internal tooling)"
        RUN = "run", "Run (production feature, COGS)"

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.BUILD)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


APPEND_ONLY = "Audit events are append-only"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Every ORM path that rewrites or removes rows refuses: this is also the base manager's queryset, which
    `Model.save()` updates through and deletion collectors use."""

    def update(self, **kwargs: Any) -> int:
        raise PermissionError(APPEND_ONLY)

    def _update(self, values: Any) -> int:
        raise PermissionError(APPEND_ONLY)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError(APPEND_ONLY)

    def _raw_delete(self, using: str) -> int:
        raise PermissionError(APPEND_ONLY)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise PermissionError(APPEND_ONLY)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[AuditEvent]:
        if kwargs.get("update_conflicts"):
            raise PermissionError(APPEND_ONLY)
        return super().bulk_create(objs, *args, **kwargs)

    def update_or_create(self, *args: Any, **kwargs: Any) -> tuple[AuditEvent, bool]:
        raise PermissionError(APPEND_ONLY)

    def for_target(self, obj: models.Model) -> AuditEventQuerySet:
        return self.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk))


# What each audit action reads as, on the audit log and on the key, key-request and budget timelines (one place:
# `AuditEvent.label`). An action missing here reads as its name made readable ("budget.set" → "Budget set").
ACTION_LABELS = {
    "key_request.created": "Requested",
    "key_request.auto_approved": "Approved automatically by policy",
    "key_request.approved_manager": "Approved by the manager",
    "key_request.approved_finance": "Approved by finance",
    "key_request.rejected": "Rejected",
    "key_request.cancelled": "Cancelled",
    "key_request.retried": "Minting retried",
    "key_request.mint_failed": "Minting failed",
    "key.minted": "Key minted at the provider",
    "key.imported": "Imported from the provider",
    "key.secret_revealed": "Secret shown to the owner (and deleted)",
    "key.secret_expired": "Unrevealed secret expired and was deleted",
    "key.rotated": "Rotated",
    "key.suspended": "Suspended",
    "key.reinstated": "Reinstated",
    "key.revoked": "Revoked",
    "provider_account.saved": "Provider account saved",
    "provider_account.tested": "Provider connection tested",
    "provider_key.revoked_unmanaged": "Unmanaged provider key revoked",
    "policy.changed": "Policy changed",
    "usage.sync_requested": "Usage sync requested",
    "budget.set": "Budget set",
    "budget.bumped": "Budget raised by a bump",
    "budget.raised_for_bump": "Budget raised for an approved bump",
    "budgets.copied": "Budgets copied from the previous quarter",
    "budget_request.created": "Budget bump requested",
    "budget_request.auto_approved": "Budget bump approved automatically by policy",
    "budget_request.approved_manager": "Budget bump approved by the manager",
    "budget_request.approved_finance": "Budget bump approved by finance",
    "budget_request.rejected": "Budget bump rejected",
    "budget_request.cancelled": "Budget bump cancelled",
    "alert.retried": "Alert delivery retried",
    "slack.webhooks_changed": "Slack webhooks changed",
    "webhooks.changed": "Event webhooks changed",
    "api_token.created": "API token created",
    "api_token.revoked": "API token revoked",
    "chargeback.exported": "Chargeback exported",
    "chargeback.quarter_closed": "Quarter closed (chargeback frozen)",
    "chargeback.invoiced": "Cost center invoiced at Stripe",
    "stripe.customer_set": "Stripe customer of a cost center set",
    "stripe.invoice_status": "Stripe invoice status changed",
    "user.created_by_sso": "Person created at first single sign-on",
    "admin.added": "Added in the Django admin",
    "admin.changed": "Changed in the Django admin",
}


def action_label(action: str) -> str:
    """The readable name of an audit action."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    words = action.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


class AuditEvent(models.Model):
    """Append-only record of a sensitive action. The ORM refuses every update and delete (see
    AuditEventQuerySet); on PostgreSQL triggers also refuse UPDATE, DELETE and TRUNCATE."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        base_manager_name = "objects"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target_repr}"

    def save(self, **kwargs: Any) -> None:
        # Only ever an INSERT: a stored row, force_update, update_fields, or a new instance given an existing
        # pk (which Django would otherwise try as an UPDATE first) all refuse or fail on the primary key.
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields") is not None:
            raise PermissionError(APPEND_ONLY)
        kwargs["force_insert"] = True
        super().save(**kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError(APPEND_ONLY)

    @classmethod
    def record(
        cls,
        action: str,
        *,
        actor: User | None = None,
        target: models.Model | None = None,
        **details: Any,
    ) -> AuditEvent:
        """Write one event. `details` must hold no secrets."""
        if actor is not None and not getattr(actor, "is_authenticated", False):
            actor = None
        return cls.objects.create(
            action=action,
            actor=actor,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_repr=str(target)[:200] if target is not None else "",
            details=details,
        )

    @property
    def label(self) -> str:
        return action_label(self.action)

    @property
    def target_label(self) -> str:
        return (
            self.target_type.split(".")[-1]
            .replace("keyrequest", "key request")
            .replace("budgetrequest", "budget request")
        )


class Notification(models.Model):
    """An in-app message for one person (also the fallback when Slack is not configured)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField(default=timezone.now)
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=300, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.text

    def get_absolute_url(self) -> str:
        return self.url or reverse("home")


from accounts.api_tokens import ApiToken  # noqa: E402, F401
