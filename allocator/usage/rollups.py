"""Daily rollups: DailyRollup rebuilt from buckets for the days a sync changed, and re-pricing after a price change."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction

from accounts.models import Team
from allocator.coding.rollups import coding_rollups_recompute
from allocator.models import DailyRollup, Key, ProviderAccount, UsageBucket
from allocator.providers import PROVIDERS, provider_class
from allocator.providers.base import UsageRow
from allocator.quarters import Quarter
from allocator.usage.pricing import Pricer
from allocator.usage.summaries import summaries_refresh
from allocator.usage.writer import BUCKET_TABLE

DAY = timedelta(days=1)
ROLLUP_TABLE = DailyRollup._meta.db_table


def day_ranges(days: Iterable[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days as [first, after_last) ranges."""
    ordered = sorted(set(days))
    while ordered:
        first = last = ordered.pop(0)
        while ordered and ordered[0] == last + DAY:
            last = ordered.pop(0)
        yield first, last + DAY


def rollups_recompute(*, account: ProviderAccount, days: Iterable[date]) -> None:
    """Rebuild DailyRollup for `account` on `days` from its buckets: per run of consecutive days, one DELETE
    and one INSERT … SELECT grouped by day, key (with its owner, team and cost center), and model.

    Requests are summed as NULL when the provider reports none (Anthropic), never as 0. The usage summaries of
    those days are refreshed in the same transaction.
    """
    if account.capabilities.coding_usage:  # no buckets: rebuilt from the coding tool's stored days
        coding_rollups_recompute(account=account, days=days)
        return
    ranges = list(day_ranges(days))
    if not ranges:
        return
    postgres = connection.vendor == "postgresql"
    day = "(bucket_start AT TIME ZONE 'UTC')::date" if postgres else "date(bucket_start)"
    key_table, team_table = Key._meta.db_table, Team._meta.db_table
    sums = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "requests", "cost_usd")
    # Aggregate the buckets first (narrow rows), then attach owner, team and cost center to the few results.
    insert = (
        f"INSERT INTO {ROLLUP_TABLE} (day, account_id, provider, key_id, owner_user_id, owner_project_id, "  # noqa: S608
        f"team_id, cost_center_id, model, {', '.join(sums)}) "
        f"SELECT a.day, a.account_id, %s, a.key_id, k.owner_user_id, k.owner_project_id, k.team_id, "
        f"t.cost_center_id, a.model, {', '.join(f'a.{c}' for c in sums)} "
        f"FROM (SELECT {day} AS day, account_id, key_id, model, {', '.join(f'SUM({c}) AS {c}' for c in sums)} "
        f"FROM {BUCKET_TABLE} WHERE account_id = %s AND bucket_start >= %s AND bucket_start < %s "
        f"GROUP BY {day}, account_id, key_id, model) a "
        f"LEFT JOIN {key_table} k ON k.id = a.key_id LEFT JOIN {team_table} t ON t.id = k.team_id"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            # Room to aggregate in memory: a back-fill rolls up millions of buckets at once. Rollups are derived
            # (recomputable from buckets), so their commit need not wait for the WAL flush either.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL synchronous_commit = off")
            # Right after a big load the planner still thinks the window is a few rows and sorts to group them;
            # hashing is cheaper at every size (and spills to disk if it must).
            cursor.execute("SET LOCAL enable_sort = off")
        for first, after in ranges:
            DailyRollup.objects.filter(account=account, day__gte=first, day__lt=after).delete()
            start = datetime.combine(first, time.min, tzinfo=UTC)
            stop = datetime.combine(after, time.min, tzinfo=UTC)
            cursor.execute(insert, [account.kind, account.pk, adapt(start), adapt(stop)])
        summaries_refresh(days=(first + DAY * n for first, after in ranges for n in range((after - first).days)))


# --- re-pricing ---------------------------------------------------------------------------------------


def usage_reprice(*, provider: str, model: str) -> int:
    """Price again the buckets of `model` from this and last quarter (after a manual price was set or changed).

    Only rows priced by us (price table, manual, unknown) change; provider-reported and reconciled costs come
    from the bill and stay. Accounts of providers that report other providers' models (the simulated one) count too.
    Returns the number of buckets whose cost changed; their days are rolled up again.
    """
    kinds = {provider} | {kind for kind in PROVIDERS if provider_class(kind).reports_real_models}
    start = Quarter.current().previous().start_at
    ours = (UsageBucket.CostSource.PRICE_TABLE, UsageBucket.CostSource.MANUAL, UsageBucket.CostSource.UNKNOWN)
    changed = 0
    for account in ProviderAccount.objects.filter(kind__in=kinds):
        pricer = Pricer(provider=account.kind)
        updates: list[UsageBucket] = []
        days: set[date] = set()
        rows = UsageBucket.objects.filter(
            account=account, bucket_start__gte=start, model=model, cost_source__in=ours
        ).only(
            "pk", "bucket_start", "bucket_width", "model", "input_tokens", "cached_input_tokens",
            "cache_write_tokens", "output_tokens", "cost_usd", "cost_source",
        )  # fmt: skip
        for bucket in rows.iterator(chunk_size=2000):
            estimate, cost, source = pricer.price(
                UsageRow(
                    bucket_start=bucket.bucket_start,
                    bucket_width=bucket.bucket_width,
                    provider_key_id=None,
                    model=bucket.model,
                    input_tokens=bucket.input_tokens,
                    cached_input_tokens=bucket.cached_input_tokens,
                    cache_write_tokens=bucket.cache_write_tokens,
                    output_tokens=bucket.output_tokens,
                )
            )
            if cost != bucket.cost_usd or source != bucket.cost_source:
                bucket.estimated_cost_usd, bucket.cost_usd, bucket.cost_source = estimate, cost, source
                updates.append(bucket)
                days.add(bucket.bucket_start.astimezone(UTC).date())
        with transaction.atomic():
            UsageBucket.objects.bulk_update(updates, ["estimated_cost_usd", "cost_usd", "cost_source"], batch_size=500)
            rollups_recompute(account=account, days=days)
        changed += len(updates)
    return changed
