"""Efficiency beside spend, per person and per team, from the usage summaries.

Definitions (the README and the page say the same):
- cost per request: cost / requests (n/a where the provider reports no request counts: Anthropic);
- cache share: cached input tokens / input tokens. A provider's `input_tokens` is the TOTAL input, cached reads
  included (allocator.providers.base.UsageRow), so this is the share of input served from the cache;
- small-tier share: cost on small-tier models / cost (allocator.usage.pricing.model_tier, SMALL_TIER_RULE);
- spend per active day: cost / days with any usage;
- output per input token: output tokens / input tokens.

A person is compared with the median of their team (people with usage this quarter): "careful" beats it on at
least two of cost per request (lower), cache share and small-tier share (higher); "heavy" spends at least twice
the median. A careful heavy user and a wasteful one then look different.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median

from allocator.money import ZERO
from allocator.usage.pricing import SMALL_TIER_RULE  # noqa: F401  (re-exported for the page)
from budgets.reports.leaderboards import BoardRow
from budgets.reports.usage_figures import efficiency_ratios

HEAVY_MULTIPLE = Decimal("2")  # spend at least this many times the team median is "heavy"
CAREFUL_SCORE = 2  # beats the team median on at least this many of the three measures
# measure -> True if higher is better
MEASURES = {"cost_per_request": False, "cache_share": True, "small_share": True}


@dataclass
class Efficiency:
    ref: str
    name: str
    cost: Decimal
    requests: int | None
    cost_per_request: Decimal | None
    cache_share: Decimal | None  # 0..1
    small_share: Decimal | None  # 0..1
    per_active_day: Decimal | None
    output_per_input: Decimal | None
    active_days: int
    team_id: int | None = None
    score: int = 0  # measures beating the team median
    scored: int = 0  # measures that could be compared
    heavy: bool = False
    better: dict[str, bool] = field(default_factory=dict)

    @property
    def careful(self) -> bool:
        return self.scored >= CAREFUL_SCORE and self.score >= CAREFUL_SCORE

    @property
    def verdict(self) -> str:
        if self.heavy:
            return "heavy, careful" if self.careful else "heavy, costly"
        return "careful" if self.careful else ""


def efficiency_of(row: BoardRow) -> Efficiency:
    totals = row.totals or {}
    cost = totals.get("cost_usd", ZERO)
    requests = totals.get("requests")
    ratios = efficiency_ratios(
        cost=cost, requests=requests, input_tokens=totals.get("input_tokens", 0),
        cached_input_tokens=totals.get("cached_input_tokens", 0), output_tokens=totals.get("output_tokens", 0),
        small_tier_cost=totals.get("small_tier_cost_usd", ZERO), active_days=totals.get("active_days", 0),
    )  # fmt: skip
    return Efficiency(
        ref=row.ref,
        name=row.name,
        cost=cost,
        requests=requests,
        cost_per_request=ratios.cost_per_request,
        cache_share=ratios.cache_share,
        small_share=ratios.small_tier_share,
        per_active_day=ratios.spend_per_active_day,
        output_per_input=ratios.output_per_input,
        active_days=totals.get("active_days", 0),
        team_id=row.team_id,
    )


def medians(rows: list[Efficiency]) -> dict[str, Decimal | None]:
    """The median of each measure over the rows that have it (and spent something)."""
    spent = [r for r in rows if r.cost > 0]
    out: dict[str, Decimal | None] = {}
    for name in ("cost", "cost_per_request", "cache_share", "small_share", "per_active_day", "output_per_input"):
        values = [getattr(r, name) for r in spent if getattr(r, name) is not None]
        out[name] = median(values) if values else None
    return out


def compare_to_median(rows: list[Efficiency], med: dict[str, Decimal | None]) -> None:
    """Mark each row against the median: which measures beat it, the score, and "heavy"."""
    for row in rows:
        row.score = row.scored = 0
        for name, higher_is_better in MEASURES.items():
            value, middle = getattr(row, name), med.get(name)
            if value is None or middle is None:
                continue
            row.scored += 1
            beats = value > middle if higher_is_better else value < middle
            row.better[name] = beats
            row.score += int(beats)
        row.heavy = bool(med.get("cost")) and row.cost >= HEAVY_MULTIPLE * med["cost"]


def people_efficiency(rows: list[BoardRow]) -> tuple[list[Efficiency], dict[str, Decimal | None]]:
    """Rows of one team's people, compared with that team's median; the most expensive first."""
    people = [efficiency_of(r) for r in rows if r.totals]
    med = medians(people)
    compare_to_median(people, med)
    people.sort(key=lambda r: (-r.cost, r.name.lower()))
    return people, med


def most_efficient(people: list[Efficiency]) -> Efficiency | None:
    """The person beating the team median on the most measures (ties: the lower cost per request)."""
    candidates = [p for p in people if p.cost > 0 and p.scored]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.score, -(p.cost_per_request or Decimal("1e9")), p.cost))
