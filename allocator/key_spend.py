"""Keys with their spend this quarter, read from daily rollups (for every key table)."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from allocator.models import DailyRollup, Key
from allocator.money import MONEY, ZERO
from allocator.quarters import Quarter


def keys_with_quarter_spend(keys: QuerySet[Key]) -> QuerySet[Key]:
    """Annotate each key with `spend_usd`, its spend this quarter, in one subquery."""
    quarter = Quarter.current()
    spend = (
        DailyRollup.objects.filter(key=OuterRef("pk"), day__gte=quarter.start, day__lt=quarter.end)
        .values("key")
        .annotate(total=Sum("cost_usd"))
        .values("total")
    )
    return keys.annotate(spend_usd=Coalesce(Subquery(spend, output_field=MONEY), Value(ZERO), output_field=MONEY))
