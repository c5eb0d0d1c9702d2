"""Leaderboards: people, projects, teams, models, providers and keys ranked by cost, tokens or requests for a quarter,
with the change against the previous quarter (in full, and up to the same day of it).

Everything is read from the usage summaries (allocator.usage.summaries.usage_totals): three grouped queries
(this quarter, the previous one, the previous one up to the same day) and one for the names, however many rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import Project, Team, User
from allocator.models import Key
from allocator.money import ZERO
from allocator.providers import kind_choices
from allocator.quarters import Quarter
from allocator.usage.models import UsageSummary
from allocator.usage.summaries import usage_totals

# tab (as in ?tab=) -> (summary kind, heading)
TABS: dict[str, tuple[str, str]] = {
    "people": ("user", "People"),
    "projects": ("project", "Projects"),
    "teams": ("team", "Teams"),
    "models": ("model", "Models"),
    "providers": ("provider", "Providers"),
    "keys": ("key", "Keys"),
}
DEFAULT_TAB = "people"
# sort (as in ?sort=) -> heading; every sort is largest first except the name
SORTS: dict[str, str] = {
    "cost": "Cost",
    "tokens": "Tokens",
    "requests": "Requests",
    "change": "Change vs same day",
    "change_full": "Change vs previous quarter",
    "name": "Name",
}
DEFAULT_SORT = "cost"
PER_PAGE = 25


@dataclass
class BoardRow:
    ref: str
    name: str
    cost: Decimal
    tokens: int
    requests: int | None
    previous_cost: Decimal = ZERO
    same_day_cost: Decimal | None = None  # None: no same-day comparison (a past quarter)
    team_id: int | None = None  # projects: the team that owns them; teams: themselves
    rank: int = 0
    totals: dict[str, Any] | None = None  # this quarter's summary figures (efficiency reads them)

    @property
    def change(self) -> Decimal | None:
        """Percent change against the previous quarter up to the same day (None when it spent nothing)."""
        return percent_change(self.cost, self.same_day_cost)

    @property
    def change_full(self) -> Decimal | None:
        return percent_change(self.cost, self.previous_cost)

    @property
    def pk(self) -> int | None:
        return int(self.ref) if self.ref.isdigit() else None


def percent_change(now: Decimal, before: Decimal | None) -> Decimal | None:
    if not before:
        return None
    return ((now - before) * 100 / before).quantize(Decimal("1"))


def same_day_through(quarter: Quarter) -> date | None:
    """The previous quarter's "same day" cut-off when `quarter` is the current one (None otherwise): its days
    before this date are compared with this quarter so far. The summaries store one cut-off, set when they were
    last rebuilt (every sync), so that stored date is the one used: one query."""
    if quarter != Quarter.current():
        return None
    previous = quarter.previous()
    stored = (
        UsageSummary.objects.filter(quarter_start=previous.start, through__isnull=False)
        .values_list("through", flat=True)
        .first()
    )
    return stored or min(previous.start + (timezone.now().date() - quarter.start), previous.end)


def _names(kind: str, refs: list[str]) -> dict[str, tuple[str, int | None]]:
    """ref -> (display name, team id) in one query (none for models and providers)."""
    ids = [int(r) for r in refs if r.isdigit()]
    if kind == "user":
        return {str(u.pk): (str(u), None) for u in User.objects.filter(pk__in=ids).only("full_name", "email")}
    if kind == "project":
        return {str(p.pk): (p.name, p.team_id) for p in Project.objects.filter(pk__in=ids).only("name", "team_id")}
    if kind == "team":
        return {str(t.pk): (t.name, t.pk) for t in Team.objects.filter(pk__in=ids).only("name")}
    if kind == "key":
        keys = Key.objects.filter(pk__in=ids).select_related("owner_user", "owner_project")
        return {str(k.pk): (f"{k.name} ({k.owner_user or k.owner_project})", k.team_id) for k in keys}
    if kind == "provider":
        labels = dict(kind_choices())
        return {r: (labels.get(r, r), None) for r in refs}
    return {r: (r, None) for r in refs}


def board_rows(
    *,
    quarter: Quarter,
    kind: str,
    team_id: int | None = None,
    cost_center_id: int | None = None,
    refs: list[str] | None = None,
) -> list[BoardRow]:
    """One row per scope with usage this quarter or last, unsorted."""
    scope = {"kind": kind, "team_id": team_id, "cost_center_id": cost_center_id, "refs": refs}
    current = {t["ref"]: t for t in usage_totals(quarter=quarter, **scope)}
    previous = {t["ref"]: t["cost_usd"] for t in usage_totals(quarter=quarter.previous(), **scope)}
    through = same_day_through(quarter)
    same_day = (
        {t["ref"]: t["cost_usd"] for t in usage_totals(quarter=quarter.previous(), through=through, **scope)}
        if through
        else None
    )
    all_refs = sorted(set(current) | set(previous))
    names = _names(kind, all_refs)
    rows = []
    for ref in all_refs:
        if ref not in names:  # a person, project or team deleted since
            continue
        totals = current.get(ref)
        name, owner_team = names[ref]
        rows.append(
            BoardRow(
                ref=ref,
                name=name,
                cost=totals["cost_usd"] if totals else ZERO,
                tokens=(totals["input_tokens"] + totals["output_tokens"]) if totals else 0,
                requests=totals["requests"] if totals else None,
                previous_cost=previous.get(ref, ZERO),
                same_day_cost=same_day.get(ref, ZERO) if same_day is not None else None,
                team_id=owner_team,
                totals=totals,
            )
        )
    return rows


def _sort_key(sort: str):
    if sort == "name":
        return lambda r: (r.name.lower(), r.ref)
    if sort in ("change", "change_full"):
        # Largest increase first; rows with nothing to compare against go last.
        return lambda r: (getattr(r, sort) is None, -(getattr(r, sort) or 0), r.name.lower())
    return lambda r: (-(getattr(r, sort) or 0), r.name.lower())


def ranked(rows: list[BoardRow], *, sort: str) -> list[BoardRow]:
    """Rows in board order; `rank` is the place by cost whatever the sort."""
    for place, row in enumerate(sorted(rows, key=_sort_key("cost")), start=1):
        row.rank = place
    return sorted(rows, key=_sort_key(sort if sort in SORTS else DEFAULT_SORT))


def board_totals(rows: list[BoardRow]) -> dict[str, Any]:
    cost = sum((r.cost for r in rows), ZERO)
    previous = sum((r.previous_cost for r in rows), ZERO)
    compared = bool(rows) and all(r.same_day_cost is not None for r in rows)
    same_day = sum((r.same_day_cost or ZERO for r in rows), ZERO) if compared else None
    reported = [r.requests for r in rows if r.requests is not None]
    return {
        "cost": cost,
        "tokens": sum(r.tokens for r in rows),
        "requests": sum(reported) if reported else None,
        "previous_cost": previous,
        "same_day_cost": same_day,
        "change": percent_change(cost, same_day),
        "change_full": percent_change(cost, previous),
    }
