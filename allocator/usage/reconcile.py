"""Reconciliation to the bill: store the provider's billed cost and scale our estimates to it.

A grain is the cost report's grouping: OpenAI bills per day × project × key (cost no key carries comes with no
key), Anthropic per day × workspace. Buckets are matched to a grain by day, dimension string and key: a bucket
whose key has its own billed cost takes that; any other bucket of the day and dimensions shares the cost no key
carries. Scaled rows get cost source "reconciled"; rounding leftovers go to the row with the largest estimate,
so a grain's rows add up to the bill to the micro-dollar. Billed cost with no estimate to scale (no usage, or
only unknown models) lands on an unattributed residual row, so totals still match the bill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from allocator.models import BilledCost, ProviderAccount, UsageBucket
from allocator.money import ZERO, to_micros
from allocator.providers.base import CostRow, Provider
from allocator.usage.rollups import day_ranges
from allocator.usage.writer import IDENTITY, dims_text

RESIDUAL_MODEL = "(billed, no matching usage)"

Grain = tuple[date, str, str]  # (day, dimension string, provider key id or "")


@dataclass
class _Changes:
    """What reconciling one window writes."""

    updates: list[UsageBucket] = field(default_factory=list)
    residuals: list[UsageBucket] = field(default_factory=list)
    records: list[BilledCost] = field(default_factory=list)
    days: set[date] = field(default_factory=set)


def usage_reconcile(*, account: ProviderAccount, adapter: Provider, start: datetime, end: datetime) -> set[date]:
    """Store the provider's billed cost per day × grain for [start, end) and scale our estimates in each grain to
    it. Returns the days whose bucket costs changed."""
    billed = _billed(adapter=adapter, start=start, end=end)
    rows_by_grain = _rows_by_grain(account=account, billed=billed)
    changes = _Changes()
    now = timezone.now()
    for grain, amount in billed.items():
        rows = rows_by_grain.get(grain, [])
        estimate = sum((row[1] for row in rows), ZERO)
        day, dims, provider_key_id = grain
        changes.records.append(
            BilledCost(
                account=account,
                day=day,
                dims=_billed_dims(dims, provider_key_id),
                billed_usd=amount,
                estimated_usd=estimate,
                synced_at=now,
            )
        )
        if estimate > 0:
            _scale(rows, amount=amount, estimate=estimate, day=day, changes=changes)
        elif amount:
            changes.residuals.append(_residual(account=account, grain=grain, amount=amount, now=now))
            changes.days.add(day)
    _save(account=account, changes=changes, start=start, end=end)
    return changes.days


def _billed(*, adapter: Provider, start: datetime, end: datetime) -> dict[Grain, Decimal]:
    billed: dict[Grain, Decimal] = {}
    for page in adapter.pull_cost(start=start, end=end):
        for cost in page:
            grain = _grain(cost)
            billed[grain] = billed.get(grain, ZERO) + cost.amount_usd
    return {grain: to_micros(amount) for grain, amount in billed.items()}


def _rows_by_grain(*, account: ProviderAccount, billed: dict[Grain, Decimal]) -> dict[Grain, list[list]]:
    """[pk, estimate, cost, source] of the buckets we priced, by the grain whose bill they share."""
    rows_by_grain: dict[Grain, list[list]] = {}
    for first, after in day_ranges(day for day, _, _ in billed):
        buckets = (
            UsageBucket.objects.filter(
                account=account,
                bucket_start__gte=datetime.combine(first, time.min, tzinfo=UTC),
                bucket_start__lt=datetime.combine(after, time.min, tzinfo=UTC),
                dims__in={dims for _, dims, _ in billed},
            )
            .exclude(cost_source=UsageBucket.CostSource.PROVIDER)
            .values_list(
                "pk", "bucket_start", "dims", "provider_key_id", "estimated_cost_usd", "cost_usd", "cost_source"
            )
        )
        for pk, bucket_start, dims, provider_key_id, estimate, cost, source in buckets.iterator(chunk_size=5000):
            day = bucket_start.astimezone(UTC).date()
            grain = (day, dims, provider_key_id)
            if grain not in billed:  # the key carries no cost of its own: it shares the cost no key carries
                grain = (day, dims, "")
            if grain in billed:
                rows_by_grain.setdefault(grain, []).append([pk, estimate, cost, source])
    return rows_by_grain


def _scale(rows: list[list], *, amount: Decimal, estimate: Decimal, day: date, changes: _Changes) -> None:
    scaled = [to_micros(row[1] * amount / estimate) for row in rows]
    largest = max(range(len(rows)), key=lambda i: rows[i][1])
    scaled[largest] += amount - sum(scaled, ZERO)
    for row, cost in zip(rows, scaled, strict=True):
        if row[2] != cost or row[3] != UsageBucket.CostSource.RECONCILED:
            changes.updates.append(UsageBucket(pk=row[0], cost_usd=cost, cost_source=UsageBucket.CostSource.RECONCILED))
            changes.days.add(day)


def _residual(*, account: ProviderAccount, grain: Grain, amount: Decimal, now: datetime) -> UsageBucket:
    day, dims, provider_key_id = grain
    return UsageBucket(
        account=account,
        provider_key_id=provider_key_id,
        model=RESIDUAL_MODEL,
        bucket_start=datetime.combine(day, time.min, tzinfo=UTC),
        bucket_width="1d",
        dims=dims,
        requests=None,
        estimated_cost_usd=ZERO,
        cost_usd=amount,
        cost_source=UsageBucket.CostSource.PROVIDER,
        synced_at=now,
    )


def _save(*, account: ProviderAccount, changes: _Changes, start: datetime, end: datetime) -> None:
    """Write the scaled costs, residual rows and billed records; drop billed records the bill no longer has."""
    with transaction.atomic():
        UsageBucket.objects.bulk_update(changes.updates, ["cost_usd", "cost_source"], batch_size=500)
        UsageBucket.objects.bulk_create(
            changes.residuals,
            update_conflicts=True,
            unique_fields=["account", *IDENTITY],
            update_fields=["cost_usd", "estimated_cost_usd", "cost_source", "synced_at"],
        )
        BilledCost.objects.bulk_create(
            changes.records,
            update_conflicts=True,
            unique_fields=["account", "day", "dims"],
            update_fields=["billed_usd", "estimated_usd", "synced_at"],
        )
        kept = {(r.day, r.dims) for r in changes.records}
        stale = [
            pk
            for pk, day, dims in BilledCost.objects.filter(
                account=account, day__gte=start.date(), day__lte=end.date()
            ).values_list("pk", "day", "dims")
            if (day, dims) not in kept
        ]
        BilledCost.objects.filter(pk__in=stale).delete()


def _grain(cost: CostRow) -> Grain:
    return cost.day_start.astimezone(UTC).date(), dims_text(cost.dimensions), cost.provider_key_id or ""


def _billed_dims(dims: str, provider_key_id: str) -> str:
    return "&".join(part for part in (f"api_key_id={provider_key_id}" if provider_key_id else "", dims) if part)
