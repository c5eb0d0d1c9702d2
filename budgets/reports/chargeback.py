"""The chargeback of a quarter: who pays for which tokens, split into build and run.

A line is one provider account × key × model, charged to the cost center, team and owner (a project, or a person
for a personal key) the key belonged to, for one quarter. Personal keys count as build, project keys as their
project's kind; usage no key carries is its own *unattributed* line. Every figure comes from DailyRollup with one
grouped query (so the totals are the budget pages' figures, `budgets.spend`, to the micro-dollar), read with
`.iterator()` so exports stream.

Where a cost came from (billed by the provider, an estimate scaled to the bill, or our own estimate) is not on
the rollup rows; one grouped query over the quarter's buckets gives the sources per key, and a line reports the
weakest one its key has (estimated < reconciled < billed). Buckets older than the retention period are gone; a
line whose key has none left says "unknown".

A closed quarter reads its frozen lines (budgets.reports.close) instead. Usage that reached a closed quarter
after it closed shows up in the next open quarter as *adjustment* lines (live minus everything frozen for that
quarter), labelled with the quarter they belong to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from decimal import Decimal

from django.db.models import Count, F, Sum

from accounts.models import CostCenter, Project, Team, User
from allocator.models import DailyRollup, Key, ProviderAccount, UsageBucket
from allocator.money import ZERO, sum_money
from allocator.providers import provider_class
from allocator.quarters import Quarter
from budgets.reports.models import Category, FrozenLine, Kind, QuarterClose, Source

TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")

# Bucket cost sources → what a chargeback line says; weaker sources rank lower.
_SOURCE_OF = {
    UsageBucket.CostSource.PROVIDER: Source.BILLED,
    UsageBucket.CostSource.RECONCILED: Source.RECONCILED,
    UsageBucket.CostSource.PRICE_TABLE: Source.ESTIMATED,
    UsageBucket.CostSource.MANUAL: Source.ESTIMATED,
    UsageBucket.CostSource.UNKNOWN: Source.ESTIMATED,
}
# How far back an open quarter looks for late usage of closed quarters: rollups of a quarter change through a
# sync's overlap (days), OpenRouter's 30-day window, re-pricing (this and last quarter) or a manual re-sync.
ADJUSTED_QUARTERS = 4
_STRENGTH = {Source.UNKNOWN: 0, Source.ESTIMATED: 1, Source.RECONCILED: 2, Source.BILLED: 3}


@dataclass(slots=True)
class Line:
    """One chargeback line; the same fields as budgets.reports.models.FrozenLine (minus its close)."""

    for_quarter: str
    category: str
    account_id: int | None
    account_name: str
    provider: str
    key_id: int | None
    key_name: str
    model: str
    cost_center_id: int | None
    cost_center_code: str
    cost_center_name: str
    team_id: int | None
    team_name: str
    project_id: int | None
    project_name: str
    user_id: int | None
    user_name: str
    kind: str
    source: str
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    requests: int | None
    cost_usd: Decimal

    @property
    def grain(self) -> tuple:
        return (
            self.account_id,
            self.key_id,
            self.model,
            self.cost_center_id,
            self.team_id,
            self.project_id,
            self.user_id,
        )

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens + self.output_tokens

    @property
    def owner_label(self) -> str:
        if self.project_name:
            return self.project_name
        if self.user_name:
            return self.user_name
        return "Unattributed usage" if self.key_id is None else "(no owner)"

    @property
    def is_adjustment(self) -> bool:
        return self.category == Category.ADJUSTMENT


LINE_FIELDS = tuple(f.name for f in fields(Line))

# Grouped in the order the lines are sorted, so PostgreSQL can sort once and aggregate as it goes.
_GROUP = (
    "cost_center_id",
    "team_id",
    "owner_project_id",
    "owner_user_id",
    "key_id",
    "model",
    "account_id",
    "provider",
)


def _ordering() -> list:
    # By ids, not names: the big grouped query then needs no joins (names are looked up afterwards, _Names).
    return [
        F("cost_center_id").asc(nulls_last=True),
        F("team_id").asc(nulls_last=True),
        F("owner_project_id").asc(nulls_last=True),
        F("owner_user_id").asc(nulls_last=True),
        "key_id",
        "model",
        "account_id",
        "provider",
    ]


class _Names:
    """Names of everything a line refers to, read once per export (six small queries, none per line)."""

    def __init__(self) -> None:
        self.accounts = dict(ProviderAccount.objects.values_list("pk", "name"))
        centers = CostCenter.objects.values_list("pk", "code", "name")
        self.cost_centers = {pk: (code, name) for pk, code, name in centers}
        self.teams = dict(Team.objects.values_list("pk", "name"))
        self.projects = {pk: (name, kind) for pk, name, kind in Project.objects.values_list("pk", "name", "kind")}
        self.users = dict(User.objects.values_list("pk", "email"))
        self.keys = dict(Key.objects.values_list("pk", "name"))


def key_sources(*, quarter: Quarter) -> dict[tuple[int, int | None], str]:
    """The weakest cost source of each (account, key) in the quarter's buckets (one grouped query); a coding
    tool's lines carry the source its adapter declares."""
    accounts = list(ProviderAccount.objects.values_list("pk", "kind"))
    sources: dict[tuple[int, int | None], str] = {}
    for account_id, kind in accounts:  # coding tools: no buckets; the tool says whether its cost is a bill
        if (tool := provider_class(kind)).capabilities.coding_usage:
            sources[(account_id, None)] = (Source.BILLED if tool.cost_is_billed else Source.ESTIMATED).value
    rows = (
        UsageBucket.objects.filter(
            account_id__in=[pk for pk, _ in accounts], bucket_start__gte=quarter.start_at,
            bucket_start__lt=quarter.end_at,
        )
        .values_list("account_id", "key_id", "cost_source")
        .annotate(n=Count("id"))
        .order_by()
    )
    for account_id, key_id, cost_source, _ in rows:
        source = _SOURCE_OF.get(cost_source, Source.ESTIMATED).value
        known = sources.get((account_id, key_id))
        if known is None or _STRENGTH[source] < _STRENGTH[known]:
            sources[(account_id, key_id)] = source
    return sources


def live_lines(*, quarter: Quarter, team_ids: Iterable[int] | None = None) -> Iterator[Line]:
    """The quarter's lines from the rollups as they are now (two queries; streamed). `team_ids` narrows to those
    teams (a manager's view; unattributed usage then drops out)."""
    sources = key_sources(quarter=quarter)
    rows = DailyRollup.objects.filter(day__gte=quarter.start, day__lt=quarter.end)
    if team_ids is not None:
        rows = rows.filter(team_id__in=list(team_ids))
    sums = [f"sum_{name}" for name in (*TOKEN_FIELDS, "requests")] + ["sum_cost"]
    rows = (
        rows.values(*_GROUP)
        .annotate(
            **{f"sum_{name}": Sum(name) for name in (*TOKEN_FIELDS, "requests")},
            sum_cost=sum_money("cost_usd"),
        )
        .order_by(*_ordering())
        .values_list(*_GROUP, *sums)
    )
    names = _Names()
    name = quarter.name
    # Plain strings, not the choices enums: every cell written per line is then a str the csv module takes as is.
    usage, unknown = Category.USAGE.value, Source.UNKNOWN.value
    build, run, unattributed = Kind.BUILD.value, Kind.RUN.value, Kind.UNATTRIBUTED.value
    no_cc, no_project = ("", ""), ("", None)
    for (
        cc_id, team_id, project_id, user_id, key_id, model, account_id, provider,
        tokens_in, cached, cache_write, tokens_out, requests, cost,
    ) in rows.iterator(chunk_size=5000):  # fmt: skip
        cc_code, cc_name = names.cost_centers.get(cc_id, no_cc)
        project_name, project_kind = names.projects.get(project_id, no_project)
        if key_id is None and user_id is None:
            kind = unattributed
        elif project_id is not None:
            kind = run if project_kind == run else build
        else:
            kind = build  # personal keys, a person's coding tools (and a key whose owner is gone) count as build
        yield Line(
            name, usage, account_id, names.accounts.get(account_id, ""), provider, key_id,
            names.keys.get(key_id, ""), model, cc_id, cc_code, cc_name, team_id, names.teams.get(team_id, ""),
            project_id, project_name, user_id, names.users.get(user_id, ""), kind,
            sources.get((account_id, key_id), unknown),
            tokens_in or 0, cached or 0, cache_write or 0, tokens_out or 0, requests, cost,
        )  # fmt: skip


def line_from_frozen(frozen: FrozenLine) -> Line:
    return Line(*(getattr(frozen, name) for name in LINE_FIELDS))


def frozen_lines(*, close: QuarterClose, team_ids: Iterable[int] | None = None) -> Iterator[Line]:
    """A closed quarter's lines as they were frozen (one query; streamed)."""
    rows = FrozenLine.objects.filter(close=close)
    if team_ids is not None:
        rows = rows.filter(team_id__in=list(team_ids))
    rows = rows.order_by(
        F("cost_center_code").asc(), F("team_name").asc(), "category", "for_quarter", "project_name", "user_name", "pk"
    )
    # Unattributed lines carry no cost center code: "" sorts first, so put them last explicitly.
    unattributed: list[Line] = []
    for frozen in rows.iterator(chunk_size=5000):
        line = line_from_frozen(frozen)
        if line.cost_center_id is None:
            unattributed.append(line)
        else:
            yield line
    yield from unattributed


def _minus(live: Line | None, frozen: Line | None, *, for_quarter: str) -> Line | None:
    """live − frozen for one grain, as an adjustment line (None when nothing changed)."""
    base = live or frozen
    assert base is not None
    values = {name: getattr(base, name) for name in LINE_FIELDS}
    for name in (*TOKEN_FIELDS, "cost_usd"):
        values[name] = (getattr(live, name) if live else 0) - (getattr(frozen, name) if frozen else 0)
    live_req = live.requests if live else None
    frozen_req = frozen.requests if frozen else None
    values["requests"] = None if live_req is None and frozen_req is None else (live_req or 0) - (frozen_req or 0)
    if not any(values[name] for name in (*TOKEN_FIELDS, "cost_usd", "requests")):
        return None
    values.update(category=Category.ADJUSTMENT, for_quarter=for_quarter)
    return Line(**values)


def adjustment_lines(*, of: Quarter, team_ids: Iterable[int] | None = None) -> list[Line]:
    """Usage of the closed quarter `of` that arrived after it closed: its live lines minus every line frozen for it
    (its own close and adjustments frozen by later closes). Three queries."""
    team_ids = list(team_ids) if team_ids is not None else None
    live = {line.grain: line for line in live_lines(quarter=of, team_ids=team_ids)}
    frozen_rows = FrozenLine.objects.filter(for_quarter=of.name)
    if team_ids is not None:
        frozen_rows = frozen_rows.filter(team_id__in=team_ids)
    frozen: dict[tuple, Line] = {}
    for row in frozen_rows.iterator(chunk_size=5000):
        line = line_from_frozen(row)
        known = frozen.get(line.grain)
        frozen[line.grain] = line if known is None else _plus(known, line)
    out = []
    for grain in list(live) + [g for g in frozen if g not in live]:
        if (line := _minus(live.get(grain), frozen.get(grain), for_quarter=of.name)) is not None:
            out.append(line)
    return out


def _plus(a: Line, b: Line) -> Line:
    values = {name: getattr(a, name) for name in LINE_FIELDS}
    for name in (*TOKEN_FIELDS, "cost_usd"):
        values[name] += getattr(b, name)
    if b.requests is not None:
        values["requests"] = (a.requests or 0) + b.requests
    return Line(**values)


def closed_quarters() -> dict[str, QuarterClose]:
    return {c.quarter: c for c in QuarterClose.objects.all()}


def adjusted_quarters(quarter: Quarter, closed: dict[str, QuarterClose]) -> list[Quarter]:
    """The closed quarters whose late usage lands in `quarter` (the closed run just before it), oldest first; at
    most ADJUSTED_QUARTERS of them, so the page's work does not grow with the years of history."""
    if quarter.name in closed:
        return []
    found: list[Quarter] = []
    previous = quarter.previous()
    while previous.name in closed and len(found) < ADJUSTED_QUARTERS:
        found.append(previous)
        previous = previous.previous()
    return list(reversed(found))


def chargeback_lines(
    *, quarter: Quarter, team_ids: Iterable[int] | None = None, closed: dict[str, QuarterClose] | None = None
) -> Iterator[Line]:
    """Every line of the quarter, streamed: the frozen lines of a closed quarter; else the live lines, then the
    adjustment lines of the closed quarters just before it."""
    closed = closed_quarters() if closed is None else closed
    team_ids = list(team_ids) if team_ids is not None else None
    if (close := closed.get(quarter.name)) is not None:
        yield from frozen_lines(close=close, team_ids=team_ids)
        return
    yield from live_lines(quarter=quarter, team_ids=team_ids)
    for earlier in adjusted_quarters(quarter, closed):
        yield from adjustment_lines(of=earlier, team_ids=team_ids)


# --- the page's tree ------------------------------------------------------------------------------------


@dataclass
class OwnerRow:
    """A project, a person or the unattributed usage within a team (summed over keys and models)."""

    label: str
    kind: str
    category: str
    for_quarter: str
    sources: set[str] = field(default_factory=set)
    tokens: int = 0
    requests: int | None = None
    cost_usd: Decimal = ZERO

    @property
    def source(self) -> str:
        return min(self.sources, key=lambda s: _STRENGTH[s]) if self.sources else Source.UNKNOWN

    @property
    def source_label(self) -> str:
        return Source(self.source).label


@dataclass
class TeamGroup:
    name: str
    rows: dict[tuple, OwnerRow] = field(default_factory=dict)
    cost_usd: Decimal = ZERO


@dataclass
class CostCenterGroup:
    code: str
    name: str
    cost_center_id: int | None
    teams: dict[str, TeamGroup] = field(default_factory=dict)
    cost_usd: Decimal = ZERO
    build_usd: Decimal = ZERO
    run_usd: Decimal = ZERO


@dataclass
class Totals:
    usage_usd: Decimal = ZERO
    adjustments_usd: Decimal = ZERO
    build_usd: Decimal = ZERO
    run_usd: Decimal = ZERO
    unattributed_usd: Decimal = ZERO
    tokens: int = 0
    lines: int = 0

    @property
    def total_usd(self) -> Decimal:
        return self.usage_usd + self.adjustments_usd

    def add(self, line: Line) -> None:
        self.lines += 1
        self.tokens += line.tokens
        if line.is_adjustment:
            self.adjustments_usd += line.cost_usd
        else:
            self.usage_usd += line.cost_usd
        if line.kind == Kind.BUILD:
            self.build_usd += line.cost_usd
        elif line.kind == Kind.RUN:
            self.run_usd += line.cost_usd
        else:
            self.unattributed_usd += line.cost_usd


@dataclass
class Chargeback:
    quarter: Quarter
    totals: Totals
    groups: list[CostCenterGroup]


def chargeback_summary(lines: Iterable[Line], *, quarter: Quarter) -> Chargeback:
    """Fold lines into cost center → team → owner rows, with totals (no queries of its own)."""
    totals = Totals()
    groups: dict[int | None, CostCenterGroup] = {}
    for line in lines:
        totals.add(line)
        group = groups.get(line.cost_center_id)
        if group is None:
            code = line.cost_center_code if line.cost_center_id is not None else "Unattributed"
            group = groups[line.cost_center_id] = CostCenterGroup(code, line.cost_center_name, line.cost_center_id)
        group.cost_usd += line.cost_usd
        if line.kind == Kind.BUILD:
            group.build_usd += line.cost_usd
        elif line.kind == Kind.RUN:
            group.run_usd += line.cost_usd
        team = group.teams.setdefault(line.team_name or "—", TeamGroup(line.team_name or "—"))
        team.cost_usd += line.cost_usd
        label = line.owner_label
        if line.is_adjustment:
            label = f"Adjustment for {line.for_quarter}: {label}"
        row_key = (line.category, line.for_quarter, line.kind, label)
        row = team.rows.get(row_key)
        if row is None:
            row = team.rows[row_key] = OwnerRow(label, line.kind, line.category, line.for_quarter)
        row.sources.add(line.source)
        row.tokens += line.tokens
        row.cost_usd += line.cost_usd
        if line.requests is not None:
            row.requests = (row.requests or 0) + line.requests
    ordered = sorted(groups.values(), key=lambda g: (g.cost_center_id is None, g.code))
    return Chargeback(quarter=quarter, totals=totals, groups=ordered)
