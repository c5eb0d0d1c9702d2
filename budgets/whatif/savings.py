"""Savings opportunities: the teams and projects that would save the most from more caching and from moving
large-model spend to a small model, each with the numbers behind the estimate.

Each scope is priced three times over the same rollup lines (budgets.whatif.repricing): the shift alone, the
cache-hit share alone, and both. The shift and the cache share are the what-if form's when it sets them, else
SHIFT_DEFAULT of large-model spend to the small-tier model that carried the most spend in the period, and a
cache-hit share of CACHE_DEFAULT.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal

from allocator.money import ZERO
from budgets.whatif.repricing import Line, Prices, Scenario, new_costs

SHIFT_DEFAULT = Decimal("0.5")
CACHE_DEFAULT = Decimal("0.5")
TOP = 10


@dataclass
class Opportunity:
    kind: str  # "team" or "project"
    ref: int
    name: str
    cost: Decimal
    input_tokens: int
    cached_input_tokens: int
    large_cost: Decimal
    shift_saving: Decimal
    cache_saving: Decimal
    saving: Decimal

    @property
    def cache_share(self) -> Decimal | None:
        return Decimal(self.cached_input_tokens) / self.input_tokens if self.input_tokens else None

    @property
    def saving_share(self) -> Decimal | None:
        return self.saving / self.cost if self.cost else None


@dataclass
class Savings:
    shift: Decimal
    cache: Decimal
    target: tuple[str, str] | None
    opportunities: list[Opportunity]


def busiest_small_model(lines: list[Line], prices: Prices) -> tuple[str, str] | None:
    """The small-tier model with the most spend in the period (the default shift target)."""
    spend: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        if prices.tier(line.provider, line.model) == "small":
            spend[line.provider, line.model] += line.cost
    return max(spend, key=lambda pair: (spend[pair], pair)) if spend else None


def _savings_by_scope(lines: list[Line], scenario: Scenario, prices: Prices) -> dict[tuple[str, int], Decimal]:
    out: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for line, new in zip(lines, new_costs(lines, scenario, prices), strict=True):
        saving = line.cost - new
        if line.team_id is not None:
            out["team", line.team_id] += saving
        if line.project_id is not None:
            out["project", line.project_id] += saving
    return out


def _scopes(line: Line) -> list[tuple[str, int]]:
    keys = []
    if line.team_id is not None:
        keys.append(("team", line.team_id))
    if line.project_id is not None:
        keys.append(("project", line.project_id))
    return keys


def savings_opportunities(
    lines: list[Line], scenario: Scenario, prices: Prices, *, names: dict[tuple[str, int], str]
) -> Savings:
    """The TOP scopes by estimated saving (largest first; scopes that save nothing are left out)."""
    target = scenario.shift_target or busiest_small_model(lines, prices)
    shift = scenario.shift or SHIFT_DEFAULT
    cache = scenario.cache if scenario.cache else CACHE_DEFAULT
    base = Scenario(start=scenario.start, end=scenario.end)
    shifted = _savings_by_scope(lines, replace(base, shift=shift, shift_target=target), prices) if target else {}
    cached = _savings_by_scope(lines, replace(base, cache=cache), prices)
    both = _savings_by_scope(lines, replace(base, shift=shift if target else ZERO, shift_target=target, cache=cache),
                             prices)  # fmt: skip
    totals: dict[tuple[str, int], dict] = defaultdict(lambda: {"cost": ZERO, "input": 0, "cached": 0, "large": ZERO})
    for line in lines:
        for key in _scopes(line):
            total = totals[key]
            total["cost"] += line.cost
            total["input"] += line.input_tokens
            total["cached"] += line.cached_input_tokens
            if prices.tier(line.provider, line.model) == "large":
                total["large"] += line.cost
    opportunities = [
        Opportunity(
            kind=kind,
            ref=ref,
            name=names.get((kind, ref), f"{kind} {ref}"),
            cost=total["cost"],
            input_tokens=total["input"],
            cached_input_tokens=total["cached"],
            large_cost=total["large"],
            shift_saving=shifted.get((kind, ref), ZERO),
            cache_saving=cached.get((kind, ref), ZERO),
            saving=both.get((kind, ref), ZERO),
        )  # fmt: skip
        for (kind, ref), total in totals.items()
        if both.get((kind, ref), ZERO) > 0
    ]
    opportunities.sort(key=lambda o: (-o.saving, o.kind, o.name.lower()))
    return Savings(shift=shift, cache=cache, target=target, opportunities=opportunities[:TOP])
