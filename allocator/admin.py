"""Django admin for provider accounts, keys and key requests (repair stuck rows; secrets never shown), and for usage:
manual model prices (editable), buckets, rollups, billed cost and sync runs (read-only).

Models the price table does not know are priced at zero; the ModelPrice list names them, with a link that opens
the add form filled in. Saving a price re-prices the recent zero-priced buckets of that model at once.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from allocator.admin_base import APPROVAL_FIELDS, APPROVAL_REPAIRABLE, AllocatorAdmin, ReadOnlyAdmin, RepairAdmin
from allocator.models import (
    BilledCost,
    CodingIdentity,
    CodingSeat,
    CodingUsage,
    DailyRollup,
    Key,
    KeyRequest,
    ModelPrice,
    ProviderAccount,
    SimulatedKey,
    SyncRun,
    UsageBucket,
    UsageGap,
)

UNKNOWN_LOOKBACK = timedelta(days=14)


def unknown_models_recently() -> list[tuple[str, str]]:
    """(provider kind, model) pairs priced at zero by syncs of the last two weeks, minus those priced since."""
    seen: set[tuple[str, str]] = set()
    runs = SyncRun.objects.filter(started_at__gte=timezone.now() - UNKNOWN_LOOKBACK).exclude(unknown_models=[])
    for kind, models in runs.values_list("account__kind", "unknown_models"):
        seen.update((kind, str(model)) for model in models or [])
    priced = set(ModelPrice.objects.values_list("provider", "model"))
    return sorted(seen - priced)


def model_price_add_url(provider: str, model: str) -> str:
    return reverse("admin:allocator_modelprice_add") + "?" + urlencode({"provider": provider, "model": model})


class ProviderAccountAdminForm(forms.ModelForm):
    """The admin credential is write-only: never rendered, kept when left blank, replaced when typed."""

    credential = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only. Leave blank to keep the stored credential; type a new one to replace it.",
    )

    class Meta:
        model = ProviderAccount
        fields = [
            "name",
            "kind",
            "base_url",
            "credential",
            "options",
            "allowed_models",
            "enabled",
            "auto_approve_limit_usd",
            "finance_approval_above_usd",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial["credential"] = ""  # the stored value never reaches the page

    def clean_credential(self) -> str:
        return self.cleaned_data["credential"] or self.instance.credential


@admin.register(ProviderAccount)
class ProviderAccountAdmin(AllocatorAdmin):
    form = ProviderAccountAdminForm
    list_display = ["name", "kind", "enabled", "status", "last_sync_at", "synced_until"]
    list_filter = ["kind", "enabled", "status"]
    search_fields = ["name"]
    readonly_fields = ["status", "status_message", "status_checked_at", "synced_until", "last_sync_at", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # keys, requests and usage hang on the account: disable it instead


# A key's state in Allocator's record, all of which an admin may correct.
KEY_STATE_FIELDS = ("status", "status_reason", "limit_usd", "expires_at", "suspended_at", "revoked_at")


@admin.register(Key)
class KeyAdmin(RepairAdmin):
    """Status here changes Allocator's record only, not the provider: use the key page to suspend or revoke."""

    list_display = ["name", "hint", "account", "owner_label", "team", "status", "limit_usd", "created_at"]
    list_filter = ["status", "account", "team", "imported"]
    search_fields = ["name", "provider_key_id", "hint", "owner_user__email", "owner_project__slug"]
    list_select_related = ["account", "team", "owner_user", "owner_project"]
    date_hierarchy = "created_at"
    fields = [
        "name",
        "account",
        "provider_key_id",
        "hint",
        "owner_user",
        "owner_project",
        "team",
        *KEY_STATE_FIELDS,
        "request",
        "requested_by",
        "approved_by",
        "imported",
        "provider_data",
        "created_at",
        "secret_expires_at",
        "secret_revealed_at",
    ]
    repairable = ("name", "hint", *KEY_STATE_FIELDS, "provider_data")

    @admin.display(description="Owner")
    def owner_label(self, obj: Key) -> str:
        return obj.owner_label


@admin.register(KeyRequest)
class KeyRequestAdmin(RepairAdmin):
    """Unstick a request: release a mint claim, put a failed mint back, correct the state."""

    list_display = ["__str__", "requester", "account", "team", "allowance_usd", "state", "awaiting_step", "created_at"]
    list_filter = ["state", "awaiting_step", "account", "team"]
    search_fields = ["name", "purpose", "requester__email"]
    list_select_related = ["requester", "account", "team"]
    date_hierarchy = "created_at"
    fields = [
        "name",
        "purpose",
        "requester",
        "account",
        "team",
        "project",
        "allowance_usd",
        "expires_on",
        *APPROVAL_FIELDS,
        "failure_message",
        "attempts",
        "mint_claimed_at",
        "created_at",
    ]
    repairable = (
        "name",
        "purpose",
        "allowance_usd",
        "expires_on",
        *APPROVAL_REPAIRABLE,
        "failure_message",
        "attempts",
        "mint_claimed_at",
    )


@admin.register(ModelPrice)
class ModelPriceAdmin(AllocatorAdmin):
    fields = [
        "provider",
        "model",
        "input_per_mtok",
        "cached_input_per_mtok",
        "cache_write_per_mtok",
        "output_per_mtok",
        "set_by",
        "updated_at",
    ]
    list_display = fields
    list_filter = ["provider"]
    search_fields = ["model"]
    readonly_fields = ["set_by", "updated_at"]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        unknown = unknown_models_recently()
        if unknown:
            links = format_html_join(
                ", ", '<a href="{}">{} / {}</a>', ((model_price_add_url(p, m), p, m) for p, m in unknown)
            )
            messages.warning(
                request, format_html("Priced at $0 in recent syncs (the price table does not know them): {}", links)
            )
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: ModelPrice, form, change: bool) -> None:
        from allocator.usage.rollups import usage_reprice

        obj.set_by = request.user
        super().save_model(request, obj, form, change)
        count = usage_reprice(provider=obj.provider, model=obj.model)
        if count:
            messages.info(request, f"Re-priced {count} usage buckets of {obj.model} from this and last quarter.")


@admin.register(UsageBucket)
class UsageBucketAdmin(ReadOnlyAdmin):
    list_display = [
        "bucket_start",
        "bucket_width",
        "account",
        "key_label",
        "model",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "requests",
        "cost_usd",
        "cost_source",
    ]
    list_filter = ["cost_source", "bucket_width", "account"]
    search_fields = ["provider_key_id", "model"]
    date_hierarchy = "bucket_start"
    list_select_related = ["account", "key"]
    show_full_result_count = False  # COUNT(*) over a year of hourly rows is slow and not worth it

    @admin.display(description="Key")
    def key_label(self, obj: UsageBucket) -> str:
        if obj.key_id:
            return str(obj.key)
        return f"unattributed ({obj.provider_key_id})" if obj.provider_key_id else "unattributed"


@admin.register(DailyRollup)
class DailyRollupAdmin(ReadOnlyAdmin):
    list_display = ["day", "account", "key", "owner_user", "owner_project", "team", "model", "requests", "cost_usd"]
    list_filter = ["account", "team", "cost_center"]
    search_fields = ["model"]
    date_hierarchy = "day"
    list_select_related = ["account", "key", "owner_user", "owner_project", "team"]
    show_full_result_count = False


@admin.register(BilledCost)
class BilledCostAdmin(ReadOnlyAdmin):
    list_display = ["day", "account", "dims", "billed_usd", "estimated_usd", "delta"]
    list_filter = ["account"]
    date_hierarchy = "day"

    @admin.display(description="Billed − estimate")
    def delta(self, obj: BilledCost) -> str:
        return f"{obj.billed_usd - obj.estimated_usd:+.6f}"


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "account", "trigger", "status", "window_start", "window_end", "pages", "rows"]
    list_filter = ["status", "trigger", "account"]
    date_hierarchy = "started_at"
    list_select_related = ["account"]


@admin.register(UsageGap)
class UsageGapAdmin(ReadOnlyAdmin):
    list_display = ["account", "lost_from", "lost_until", "detected_at", "alerted_at"]
    list_filter = ["account"]
    list_select_related = ["account"]


@admin.register(SimulatedKey)
class SimulatedKeyAdmin(AllocatorAdmin):
    """The simulated provider's own key table. The action makes a key burst for an hour (demos, runaway alerts)."""

    list_display = ["key_id", "name", "account_id", "disabled", "revoked", "created_at", "disabled_at"]
    list_filter = ["disabled", "revoked"]
    search_fields = ["key_id", "name"]
    actions = ["force_runaway"]

    @admin.action(description="Force a runaway hour now (the next sync shows the burst)")
    def force_runaway(self, request: HttpRequest, queryset) -> None:
        from allocator.providers.simulated.usage import force_runaway

        for key in queryset:
            force_runaway(key)
        self.message_user(request, f"{queryset.count()} simulated key(s) burst for the current hour.")


# Coding tools: read-only here; identities are mapped at /providers/coding-identities/ (the map moves their days).
@admin.register(CodingIdentity)
class CodingIdentityAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "account", "kind", "user", "matched_by", "first_seen", "last_seen"]
    list_filter = ["account", "kind", "matched_by"]
    search_fields = ["external_id", "email"]
    list_select_related = ["account", "user"]


@admin.register(CodingUsage)
class CodingUsageAdmin(ReadOnlyAdmin):
    list_display = ["day", "account", "identity", "user", "model", "customer_type", "counted_via_key", "cost_usd"]
    list_filter = ["account", "counted_via_key"]
    date_hierarchy = "day"
    list_select_related = ["account", "identity", "user"]
    show_full_result_count = False


@admin.register(CodingSeat)
class CodingSeatAdmin(ReadOnlyAdmin):
    list_display = ["month", "account", "identity", "user", "plan", "cost_usd"]
    list_filter = ["account", "month"]
    list_select_related = ["account", "identity", "user"]
# Capacity rows are registered beside their feature.
import allocator.capacity.admin  # noqa: E402, F401
