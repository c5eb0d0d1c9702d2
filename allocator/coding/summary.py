"""The coding-tool quarter summary (CodingSummary): per account, quarter and person, rebuilt from the stored days
and seats whenever they change, so pages read a few rows instead of every day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db.models import Count, Q, Sum

from allocator.coding.models import CodingSeat, CodingSummary, CodingUsage
from allocator.models import ProviderAccount
from allocator.money import ZERO
from allocator.quarters import Quarter

OUTCOMES = ("requests", "sessions", "lines_added", "lines_removed", "commits", "pull_requests", "accepted_suggestions")


def coding_summaries_refresh(*, account: ProviderAccount, days: Iterable[date]) -> None:
    """Rebuild `account`'s summaries of every quarter that holds one of `days` (two grouped reads a quarter)."""
    for quarter in {Quarter.containing(day) for day in days}:
        CodingSummary.objects.filter(account=account, quarter_start=quarter.start).delete()
        in_quarter = {"account": account}
        usage = (
            CodingUsage.objects.filter(**in_quarter, day__gte=quarter.start, day__lt=quarter.end)
            .values("user_id")
            .annotate(
                usage=Sum("cost_usd", filter=Q(counted_via_key=False)),
                via_key=Sum("cost_usd", filter=Q(counted_via_key=True)),
                input=Sum("input_tokens"),
                output=Sum("output_tokens"),
                active_days=Count("day", distinct=True),
                **{name: Sum(name) for name in OUTCOMES},
            )
        )
        seats = dict(
            CodingSeat.objects.filter(**in_quarter, month__gte=quarter.start, month__lt=quarter.end)
            .values("user_id")
            .annotate(cost=Sum("cost_usd"))
            .values_list("user_id", "cost")
        )
        rows = {}
        for row in usage:
            rows[row["user_id"]] = CodingSummary(
                quarter_start=quarter.start,
                account=account,
                user_id=row["user_id"],
                usage_cost_usd=row["usage"] or ZERO,
                via_key_cost_usd=row["via_key"] or ZERO,
                seat_cost_usd=seats.get(row["user_id"]) or ZERO,
                tokens=(row["input"] or 0) + (row["output"] or 0),
                active_days=row["active_days"],
                **{name: row[name] for name in OUTCOMES},
            )
        for user_id, cost in seats.items():
            if user_id not in rows:
                rows[user_id] = CodingSummary(
                    quarter_start=quarter.start, account=account, user_id=user_id, seat_cost_usd=cost or ZERO
                )
        CodingSummary.objects.bulk_create(rows.values())
