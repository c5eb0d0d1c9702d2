"""Runaway detection: a key whose last hour of spend is far above its own trailing baseline.

Read from the hourly UsageBucket rows of the last day (two queries whatever the number of keys). OpenRouter
reports per day, so its keys rely on their provider-side cap instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from allocator.models import Key, UsageBucket
from allocator.money import ZERO, sum_money, usd
from allocator.quarters import Quarter
from budgets.models import Alert, BudgetPolicy


@dataclass(frozen=True)
class Runaway:
    last_hour: Decimal  # spend in the busiest of the last complete hour and the current one
    baseline: Decimal  # average spend per hour over the 24 hours before
    hour: datetime  # start of that busiest hour


def runaway_keys(
    *, now: datetime, policy: BudgetPolicy, key_ids: set[int], account_ids: set[int]
) -> dict[int, Runaway]:
    """Keys whose last hour is far above their own trailing baseline (two queries).

    "Last hour" is the larger of the last complete hour bucket and the current (partial) one; the baseline is
    the average per hour over the 24 hours before that (hours without usage count as zero). A key is a runaway
    when its last hour is at least policy.runaway_min_usd and more than policy.runaway_multiplier × baseline.
    """
    if not key_ids:
        return {}
    hour = now.replace(minute=0, second=0, microsecond=0)
    recent_start, baseline_start = hour - timedelta(hours=1), hour - timedelta(hours=25)
    buckets = UsageBucket.objects.filter(account_id__in=account_ids, bucket_width="1h", key__isnull=False)
    last: dict[int, tuple[Decimal, datetime]] = {}
    for row in (
        buckets.filter(bucket_start__gte=recent_start, bucket_start__lte=now)
        .values("key", "bucket_start")
        .annotate(total=sum_money("cost_usd"))
        .order_by()
    ):
        if row["key"] in key_ids and row["total"] > last.get(row["key"], (ZERO, hour))[0]:
            last[row["key"]] = (row["total"], row["bucket_start"])
    candidates = {pk: v for pk, v in last.items() if v[0] >= policy.runaway_min_usd}
    if not candidates:
        return {}
    baseline = {
        row["key"]: row["total"] / 24
        for row in buckets.filter(bucket_start__gte=baseline_start, bucket_start__lt=recent_start)
        .values("key")
        .annotate(total=sum_money("cost_usd"))
        .order_by()
    }
    return {
        pk: Runaway(spent, baseline.get(pk, ZERO), at)
        for pk, (spent, at) in candidates.items()
        if spent > policy.runaway_multiplier * baseline.get(pk, ZERO)
    }


def runaway_text(key: Key, runaway: Runaway) -> str:
    return (
        f"Runaway spend on key {key.name} ({key.owner_label}, team {key.team}): "
        f"{usd(runaway.last_hour)} in the last hour against a usual {usd(runaway.baseline)} per hour."
    )


def runaway_alert(key: Key, runaway: Runaway, *, text: str, quarter: Quarter) -> Alert:
    """At most one runaway alert per key per day (dedupe on the day)."""
    return Alert(
        kind=Alert.Kind.RUNAWAY,
        scope="key",
        scope_key=f"key:{key.pk}",
        quarter=quarter.name,
        threshold=0,
        dedupe=runaway.hour.date().isoformat(),
        team_id=key.team_id,
        user_id=key.owner_user_id,
        project_id=key.owner_project_id,
        key=key,
        message=text,
        url=key.get_absolute_url(),
    )
