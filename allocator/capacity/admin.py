"""Django admin for capacity rows (registered through allocator/admin.py): limits can be repaired (audited like every
admin change), daily peaks and 429 hints are looked at only."""

from __future__ import annotations

from django.contrib import admin

from allocator.admin_base import AllocatorAdmin, ReadOnlyAdmin
from allocator.capacity.models import DemandPeak, RateLimitRecord, ThrottleHint


@admin.register(RateLimitRecord)
class RateLimitRecordAdmin(AllocatorAdmin):
    list_display = ["account", "scope", "model", "dimension", "value", "org_limit", "source", "read_at"]
    list_filter = ["source", "dimension", "account"]
    search_fields = ["model", "scope"]
    list_select_related = ["account"]
    raw_id_fields = ["recorded_by"]


@admin.register(DemandPeak)
class DemandPeakAdmin(ReadOnlyAdmin):
    list_display = ["day", "account", "scope", "model", "dimension", "peak", "p99", "minutes"]
    list_filter = ["dimension", "account"]
    search_fields = ["model"]
    date_hierarchy = "day"
    list_select_related = ["account"]


@admin.register(ThrottleHint)
class ThrottleHintAdmin(ReadOnlyAdmin):
    list_display = ["day", "account", "count", "last_seen_at"]
    list_select_related = ["account"]
