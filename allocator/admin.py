"""Django admin for usage: manual model prices (editable), buckets, rollups, billed cost and sync runs (read-only).

Models the price table does not know are priced at zero; the ModelPrice list names them, with a link that opens
the add form filled in. Saving a price re-prices the recent zero-priced buckets of that model at once.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from allocator.models import BilledCost, DailyRollup, ModelPrice, SimulatedKey, SyncRun, UsageBucket

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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by syncs: look, filter, never edit by hand (the next sync would overwrite it anyway)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "model",
        "input_per_mtok",
        "cached_input_per_mtok",
        "cache_write_per_mtok",
        "output_per_mtok",
        "set_by",
        "updated_at",
    ]
    list_filter = ["provider"]
    search_fields = ["model"]
    readonly_fields = ["set_by", "updated_at"]
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


@admin.register(SimulatedKey)
class SimulatedKeyAdmin(admin.ModelAdmin):
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
