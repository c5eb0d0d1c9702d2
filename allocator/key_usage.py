"""A key's recent spend, as its page and the API show it (from daily rollups)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from allocator.models import Key
from allocator.money import ZERO, sum_money
from allocator.quarters import Quarter
from allocator.usage.models import DailyRollup


def key_recent_days(key: Key, quarter: Quarter) -> list[tuple[date, Decimal]]:
    """The key's spend on each of the last 14 days of the quarter up to today, newest first (one query)."""
    end = min(timezone.now().date(), quarter.last_day)
    days = [d for d in (end - timedelta(days=i) for i in range(14)) if d >= quarter.start]
    if not days:
        return []
    rows = (
        DailyRollup.objects.filter(key_id=key.pk, day__gte=days[-1], day__lte=days[0])
        .values("day")
        .annotate(total=sum_money("cost_usd"))
        .order_by()
    )
    totals = {row["day"]: row["total"] for row in rows}
    return [(day, totals.get(day, ZERO)) for day in days]
