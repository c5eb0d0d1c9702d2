"""Adoption per team, so a manager can tell "not adopting" from "over-spending": people with a key, people
active in the last 7 and 30 days, the share of spend from the top 10 % of people, and who has no usage at all.

A member's usage is all of their usage this quarter (whatever team it was charged to); "active" and "no usage"
look at the last day with usage in this quarter or the previous one (UsageSummary.last_day). Five queries,
however many teams and people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from accounts.models import Membership, Team, User
from allocator.models import Key
from allocator.money import ZERO
from allocator.quarters import Quarter
from allocator.usage.summaries import usage_totals

TOP_SHARE = Decimal("0.10")  # "the top 10 % of people"
LIVE_KEY_STATUSES = (Key.Status.ACTIVE, Key.Status.SUSPENDED)


@dataclass
class Member:
    user: User
    spend: Decimal = ZERO
    last_day: date | None = None
    has_key: bool = False


@dataclass
class TeamAdoption:
    team: Team
    members: list[Member] = field(default_factory=list)
    active_7: int = 0
    active_30: int = 0
    top_count: int = 0
    top_share: Decimal | None = None  # 0..1 of the team's spend; None when it spent nothing

    @property
    def with_key(self) -> int:
        return sum(1 for m in self.members if m.has_key)

    @property
    def spend(self) -> Decimal:
        return sum((m.spend for m in self.members), ZERO)

    @property
    def idle(self) -> list[Member]:
        """Members with no usage this quarter or last: not adopting (with or without a key)."""
        return [m for m in self.members if m.last_day is None]

    @property
    def state(self) -> str:
        """One word for the table: most members idle is "not adopting", a few people carrying it "concentrated"."""
        if not self.members:
            return ""
        if len(self.idle) * 2 > len(self.members):
            return "not adopting"
        if self.top_share is not None and len(self.members) >= 5 and self.top_share >= Decimal("0.5"):
            return "concentrated"
        return "adopting"


def _last_days(quarter: Quarter) -> tuple[dict[str, Decimal], dict[str, date]]:
    """Spend this quarter and the last usage day (this quarter or the previous one) per person."""
    spend, last = {}, {}
    for row in usage_totals(quarter=quarter.previous(), kind="user"):
        if row["last_day"]:
            last[row["ref"]] = row["last_day"]
    for row in usage_totals(quarter=quarter, kind="user"):
        spend[row["ref"]] = row["cost_usd"]
        if row["last_day"]:
            last[row["ref"]] = max(row["last_day"], last.get(row["ref"], row["last_day"]))
    return spend, last


def team_adoption(*, teams: list[Team], today: date) -> list[TeamAdoption]:
    """Adoption of each team in `teams`, in that order, as of `today` (current quarter)."""
    quarter = Quarter.containing(today)
    by_team = {t.pk: TeamAdoption(team=t) for t in teams}
    memberships = (
        Membership.objects.filter(team__in=teams, user__is_active=True)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )
    keyed = set(
        Key.objects.filter(team__in=teams, owner_user__isnull=False, status__in=LIVE_KEY_STATUSES)
        .values_list("owner_user_id", "team_id")
        .distinct()
    )
    spend, last = _last_days(quarter)
    for membership in memberships:
        ref = str(membership.user_id)
        member = Member(
            user=membership.user,
            spend=spend.get(ref, ZERO),
            last_day=last.get(ref),
            has_key=(membership.user_id, membership.team_id) in keyed,
        )
        by_team[membership.team_id].members.append(member)
    for item in by_team.values():
        _figures(item, today)
    return list(by_team.values())


def _figures(item: TeamAdoption, today: date) -> None:
    days = [m.last_day for m in item.members if m.last_day]
    item.active_7 = sum(1 for d in days if d > today - timedelta(days=7))
    item.active_30 = sum(1 for d in days if d > today - timedelta(days=30))
    if not item.members:
        return
    item.top_count = max(1, math.ceil(len(item.members) * TOP_SHARE))
    total = item.spend
    if total > 0:
        top = sorted((m.spend for m in item.members), reverse=True)[: item.top_count]
        item.top_share = sum(top, ZERO) / total
