"""A key's usage in a quarter: tokens, requests, cost and where the cost comes from, per model, and per day.

Tokens and cost come from the key's daily rollups (the (key, day) index). The rollup does not say where a cost
came from, so that is read from the key's usage buckets. The bucket identity index is (account, bucket start,
width, provider key id, ...): a range over the quarter's bucket starts would walk every key's buckets of the
account (1.4 s for 4.4M buckets on PostgreSQL), so the read names the exact bucket starts of the days the key has
usage (from its rollups: at most 92 x 24 hours) and the key's provider ids, and the index finds each bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum

from accounts.models import AuditEvent
from allocator.models import DailyRollup, Key, UsageBucket
from allocator.money import ZERO, sum_money
from allocator.providers import provider_class
from allocator.quarters import Quarter
from budgets.reports import charts

Source = UsageBucket.CostSource
# Where a cost comes from, in the words the page uses.
SOURCE_WORDS: dict[str, str] = {
    Source.PROVIDER: "billed",
    Source.RECONCILED: "reconciled",
    Source.PRICE_TABLE: "estimated",
    Source.MANUAL: "estimated (manual price)",
    Source.UNKNOWN: "unpriced",
}
SOURCE_HELP = (
    "billed: the provider's own cost for this key; reconciled: Allocator's estimate scaled to the provider's bill "
    "(the bill came for several keys at once); estimated: tokens × the price table or a manual price, no bill yet."
)
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


@dataclass
class ModelUsage:
    model: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    requests: int | None = None  # None: the provider reports no request counts ("n/a", never 0)
    cost_usd: Decimal = ZERO

    def add(self, row: dict) -> None:
        for name in TOKEN_FIELDS:
            setattr(self, name, getattr(self, name) + (row[f"t_{name}"] or 0))
        if row["reported"]:
            self.requests = (self.requests or 0) + (row["req"] or 0)
        self.cost_usd += row["cost"]


@dataclass
class KeyUsage:
    quarter: Quarter
    models: list[ModelUsage]
    total: ModelUsage
    chart: charts.StackedChart
    source_help: str = SOURCE_HELP


def _provider_ids(key: Key) -> list[str]:
    """The key's provider id now and every id it had before a rotation (usage of an old id stays with the key)."""
    rotated = AuditEvent.objects.for_target(key).filter(action="key.rotated").values_list("details", flat=True)
    old = [d.get("old_provider_key_id") for d in rotated if isinstance(d, dict)]
    return sorted({key.provider_key_id, *(i for i in old if i)})


def _bucket_starts(key: Key, days: list[date], quarter: Quarter) -> Q:
    """The buckets of these days: hourly and daily ones named one by one (so the identity index is used from its
    first columns); a provider with finer buckets falls back to the quarter's range."""
    width = provider_class(key.account.kind).usage_bucket_width
    if width not in ("1h", "1d"):
        return Q(bucket_start__gte=quarter.start_at, bucket_start__lt=quarter.end_at)
    midnights = [datetime.combine(day, time(), tzinfo=UTC) for day in days]
    hours = [m + timedelta(hours=h) for m in midnights for h in range(24)] if width == "1h" else []
    # Billed cost can also arrive per day for a provider that reports usage per hour.
    return Q(bucket_width="1d", bucket_start__in=midnights) | Q(bucket_width="1h", bucket_start__in=hours)


def _sources(key: Key, days: list[date], quarter: Quarter) -> dict[str, list[tuple[str, Decimal]]]:
    rows = (
        UsageBucket.objects.filter(
            _bucket_starts(key, days, quarter),
            account_id=key.account_id,
            provider_key_id__in=_provider_ids(key),
        )
        .values("model", "cost_source")
        .annotate(cost=sum_money("cost_usd"))
        .order_by()
    )
    by_model: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        words = SOURCE_WORDS.get(row["cost_source"], row["cost_source"])
        sources = by_model.setdefault(row["model"], {})
        sources[words] = sources.get(words, ZERO) + row["cost"]
    return {m: sorted(s.items(), key=lambda item: -item[1]) for m, s in by_model.items()}


def key_usage(*, key: Key, quarter: Quarter) -> KeyUsage:
    """The key's quarter per model and per day (one query, whatever the number of days or models)."""
    rows = (
        DailyRollup.objects.filter(key_id=key.pk, day__gte=quarter.start, day__lt=quarter.end)
        .values("day", "model")
        .annotate(
            cost=sum_money("cost_usd"),
            req=Sum("requests"),
            reported=Count("requests"),
            **{f"t_{name}": Sum(name) for name in TOKEN_FIELDS},
        )
        .order_by()
    )
    models: dict[str, ModelUsage] = {}
    total = ModelUsage(model="All models")
    daily: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        models.setdefault(row["model"], ModelUsage(model=row["model"])).add(row)
        total.add(row)
        daily.setdefault(row["model"], {})[row["day"]] = row["cost"]
    chart = charts.stacked(
        title=f"Daily spend of {key.name} in {quarter}, by model",
        series=daily,
        columns=charts.days_of(quarter.start, quarter.end),
    )
    ordered = sorted(models.values(), key=lambda m: (-m.cost_usd, m.model))
    return KeyUsage(quarter=quarter, models=ordered, total=total, chart=chart)


def key_cost_sources(*, key: Key, quarter: Quarter) -> list[tuple[str, list[tuple[str, Decimal]]]]:
    """Where each model's cost in the quarter comes from: [(model, [(words, cost), ...]), ...] (three queries).

    Read apart from the page (it is loaded after it) because it reads usage buckets, not rollups."""
    days = sorted(
        DailyRollup.objects.filter(key_id=key.pk, day__gte=quarter.start, day__lt=quarter.end)
        .values_list("day", flat=True)
        .distinct()
        .order_by()
    )
    sources = _sources(key, days, quarter) if days else {}
    return sorted(sources.items(), key=lambda item: (-sum(cost for _, cost in item[1]), item[0]))
