"""Django admin for budgets, bumps, enforcement state and alerts: repair stuck rows without a shell.

Budgets are editable (an audit event names what changed); bumps, enforcement records and alerts are created by
the application, so rows are never added or deleted here and their history fields are read-only. An alert stuck
in "sending" (a worker died holding it) can be put back to "pending" to be delivered again.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from allocator.admin_base import APPROVAL_FIELDS, APPROVAL_REPAIRABLE, AllocatorAdmin, RepairAdmin
from budgets.models import Alert, Budget, BudgetRequest, KeyEnforcement, ProviderCap, SpendLimitRequest


@admin.register(Budget)
class BudgetAdmin(AllocatorAdmin):
    list_display = ["__str__", "scope", "quarter", "amount_usd", "hard", "set_by", "updated_at"]
    list_filter = ["quarter", "scope", "hard"]
    search_fields = ["team__name", "project__name", "user__email", "cost_center__code"]
    list_select_related = ["cost_center", "team", "project", "user", "set_by"]
    autocomplete_fields = ["user"]
    readonly_fields = ["set_by", "created_at", "updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # bumps and alerts refer to it; set the amount instead

    def save_model(self, request: HttpRequest, obj: Budget, form, change: bool) -> None:
        obj.set_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(BudgetRequest)
class BudgetRequestAdmin(RepairAdmin):
    list_display = ["__str__", "budget", "requester", "amount_usd", "state", "awaiting_step", "created_at"]
    list_filter = ["state", "awaiting_step"]
    search_fields = ["reason", "requester__email"]
    list_select_related = ["budget", "requester"]
    date_hierarchy = "created_at"
    fields = ["budget", "requester", "team", "amount_usd", "reason", *APPROVAL_FIELDS, "created_at"]
    repairable = APPROVAL_REPAIRABLE


@admin.register(KeyEnforcement)
class KeyEnforcementAdmin(RepairAdmin):
    list_display = ["key", "suspended_by", "scope_key", "provider_limit_usd", "note", "updated_at"]
    list_filter = ["suspended_by"]
    search_fields = ["key__name", "scope_key"]
    list_select_related = ["key"]
    readonly_fields = ["key", "provider_limit_usd", "provider_limit_set_at", "updated_at"]


@admin.register(Alert)
class AlertAdmin(RepairAdmin):
    """What was said and to whom is history: only the delivery state can be corrected."""

    list_display = ["created_at", "kind", "scope_key", "quarter", "threshold", "status", "attempts", "channel"]
    list_filter = ["status", "kind", "quarter"]
    search_fields = ["message", "scope_key"]
    date_hierarchy = "created_at"
    fields = [
        "kind",
        "scope",
        "scope_key",
        "quarter",
        "threshold",
        "dedupe",
        "budget",
        "message",
        "url",
        "created_at",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "last_error",
        "channel",
        "delivered_to",
        "notified_at",
        "sent_at",
    ]
    repairable = ("status", "next_attempt_at", "claimed_at")


@admin.register(ProviderCap)
class ProviderCapAdmin(RepairAdmin):
    """Limits Allocator keeps at the provider: a stuck retry can be made due again, nothing else is edited here."""

    list_display = ["account", "scope_key", "provider_scope_id", "limit_usd", "state", "last_set_at"]
    list_filter = ["state", "account"]
    search_fields = ["scope_key", "provider_scope_id"]
    list_select_related = ["account"]
    fields = [
        "account", "scope_key", "provider_scope_id", "limit_usd", "enforcement_status", "allowed_models",
        "degraded_reason", "state", "last_set_at", "last_error", "attempts", "next_attempt_at",
    ]  # fmt: skip
    repairable = ("next_attempt_at",)


@admin.register(SpendLimitRequest)
class SpendLimitRequestAdmin(RepairAdmin):
    list_display = ["__str__", "account", "amount_usd", "state", "awaiting_step", "provider_state", "created_at"]
    list_filter = ["state", "awaiting_step", "provider_state"]
    search_fields = ["requester_email", "reason"]
    list_select_related = ["account", "requester"]
    fields = [
        "account", "provider_request_id", "requester", "requester_email", "team", "amount_usd",
        "approved_amount_usd", "reason", *APPROVAL_FIELDS, "provider_state", "provider_message", "created_at",
    ]  # fmt: skip
    repairable = APPROVAL_REPAIRABLE
