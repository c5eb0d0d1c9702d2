"""Shared test helpers: accounts pointed at the emulators; for usage tests, totals and rollup checks."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from allocator.models import DailyRollup, ProviderAccount, UsageBucket
from allocator.providers import provider_class

# Fast failure handling against the emulators: one retry, barely any sleep.
FAST = {"retries": 1, "max_sleep": 0.05, "timeout": 5}
TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


def hour(hours_ago: int = 0) -> datetime:
    """The start of the hour `hours_ago` hours before this one (UTC)."""
    return timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)


def day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def emulator_account(kind: str, emulator, *, name: str = "", **options) -> ProviderAccount:
    """A provider account of `kind` pointed at a loopback emulator, with fast failure handling (FAST) unless
    `options` say otherwise."""
    return ProviderAccount.objects.create(
        name=name or f"{provider_class(kind).display_name} test",
        kind=kind,
        base_url=emulator.url,
        credential=emulator.credential,
        status=ProviderAccount.Status.OK,
        options={**FAST, **options},
    )


def totals(queryset, fields=(*TOKENS, "requests", "cost_usd")) -> dict:
    return queryset.aggregate(**{f: Sum(f) for f in fields})


def bucket_totals(account: ProviderAccount) -> dict:
    return totals(UsageBucket.objects.filter(account=account))


def rollup_totals(account: ProviderAccount) -> dict:
    return totals(DailyRollup.objects.filter(account=account))


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.000001"))


def recomputed_rollups(account: ProviderAccount) -> dict:
    """DailyRollup as it should be, computed in Python from the account's buckets and keys."""
    expected: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0, None, Decimal("0")])
    for bucket in UsageBucket.objects.filter(account=account).select_related("key__team"):
        key = bucket.key
        group = (
            bucket.bucket_start.astimezone(UTC).date(),
            bucket.key_id,
            key.owner_user_id if key else None,
            key.owner_project_id if key else None,
            key.team_id if key else None,
            key.team.cost_center_id if key else None,
            bucket.model,
        )
        values = expected[group]
        for i, field in enumerate(TOKENS):
            values[i] += getattr(bucket, field)
        if bucket.requests is not None:
            values[4] = (values[4] or 0) + bucket.requests
        values[5] += bucket.cost_usd
    return {group: (*v[:5], _money(v[5])) for group, v in expected.items()}


def stored_rollups(account: ProviderAccount) -> dict:
    stored = {}
    for r in DailyRollup.objects.filter(account=account):
        group = (r.day, r.key_id, r.owner_user_id, r.owner_project_id, r.team_id, r.cost_center_id, r.model)
        assert group not in stored, f"duplicate rollup row {group}"
        assert r.provider == account.kind
        stored[group] = (*(getattr(r, f) for f in TOKENS), r.requests, _money(r.cost_usd))
    return stored


def assert_rollups_match(account: ProviderAccount) -> None:
    assert stored_rollups(account) == recomputed_rollups(account)
