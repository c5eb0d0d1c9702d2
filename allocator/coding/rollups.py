"""Coding-tool spend in the daily rollups, so budgets, boards, summaries and chargeback count it.

Where the account's budget policy is "count", each (day, person, model) of coding-tool usage becomes one
DailyRollup row with no key, the person as owner, their team (their first membership) and its cost center; a
month's seats become one row per person on the month's first day with the model "seat" (seat spend and usage
spend stay apart). Usage already counted through an API key (`counted_via_key`) is left out: never counted
twice. Identities nobody is matched to land on rows without owner, shown as unattributed until mapped.
Under "show only" the account has no rollups at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from accounts.models import Membership
from allocator.coding.models import CodingSeat, CodingUsage
from allocator.coding.summary import coding_summaries_refresh
from allocator.models import DailyRollup, ProviderAccount
from allocator.money import ZERO
from allocator.providers.coding import SHOW_ONLY
from allocator.usage.summaries import summaries_refresh

SEAT_MODEL = "seat"  # the rollup model of seat spend


def counts_against_budgets(account: ProviderAccount) -> bool:
    """The account's budget policy (option `budget_policy`): "count" unless set to "show only"."""
    return (account.options or {}).get("budget_policy") != SHOW_ONLY


def _teams(user_ids: set[int]) -> dict[int, tuple[int, int]]:
    """user id → (team id, cost center id) of their first membership."""
    teams: dict[int, tuple[int, int]] = {}
    rows = (
        Membership.objects.filter(user_id__in=user_ids)
        .order_by("pk")
        .values_list("user_id", "team_id", "team__cost_center_id")
    )
    for user_id, team_id, cost_center_id in rows:
        teams.setdefault(user_id, (team_id, cost_center_id))
    return teams


@transaction.atomic
def coding_rollups_recompute(*, account: ProviderAccount, days: Iterable[date]) -> None:
    """Rebuild `account`'s rollups of `days` from its stored coding usage and seats, then the usage summaries and
    the coding summaries of their quarters."""
    days = sorted(set(days))
    if not days:
        return
    DailyRollup.objects.filter(account=account, day__in=days).delete()
    if counts_against_budgets(account):
        usage = (
            CodingUsage.objects.filter(account=account, day__in=days, counted_via_key=False)
            .exclude(model="")
            .values("day", "user_id", "model")
            .annotate(
                input_tokens=Sum("input_tokens"),
                cached=Sum("cache_read_tokens"),
                cache_write=Sum("cache_creation_tokens"),
                output_tokens=Sum("output_tokens"),
                requests=Sum("requests"),
                cost=Sum("cost_usd"),
            )
        )
        seats = (
            CodingSeat.objects.filter(account=account, month__in=days)
            .values("month", "user_id")
            .annotate(cost=Sum("cost_usd"))
        )
        usage, seats = list(usage), list(seats)
        teams = _teams({row["user_id"] for row in [*usage, *seats] if row["user_id"]})
        rollups = [
            _rollup(account, row["day"], row["user_id"], row["model"], teams, row["cost"], row) for row in usage
        ] + [_rollup(account, row["month"], row["user_id"], SEAT_MODEL, teams, row["cost"], None) for row in seats]
        DailyRollup.objects.bulk_create(r for r in rollups if r is not None)
    summaries_refresh(days=days)
    coding_summaries_refresh(account=account, days=days)


def _rollup(account, day, user_id, model, teams, cost: Decimal | None, row: dict | None) -> DailyRollup | None:
    team_id, cost_center_id = teams.get(user_id, (None, None)) if user_id else (None, None)
    tokens = row or {}
    # Input tokens include cached reads and cache writes, as every rollup counts them.
    cached, cache_write = tokens.get("cached") or 0, tokens.get("cache_write") or 0
    return DailyRollup(
        day=day,
        account=account,
        provider=account.kind,
        owner_user_id=user_id,
        team_id=team_id,
        cost_center_id=cost_center_id,
        model=model,
        input_tokens=(tokens.get("input_tokens") or 0) + cached + cache_write,
        cached_input_tokens=cached,
        cache_write_tokens=cache_write,
        output_tokens=tokens.get("output_tokens") or 0,
        requests=tokens.get("requests"),
        cost_usd=cost or ZERO,
    )
