"""Efficiency figures of one person's (or key's) usage: what a careful heavy user does differently from a wasteful one.

- cost per request: cost of the usage that reports requests ÷ those requests (Anthropic reports none: n/a);
- cache share: input tokens served from the prompt cache ÷ all input tokens;
- small-tier share: spend on small-tier models ÷ all spend (SMALL_TIER_RULE says which models are small);
- spend per active day: spend ÷ days with any usage;
- output per input token: output tokens ÷ input tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from allocator.money import ZERO
from allocator.usage.pricing import SMALL_TIER_RULE, model_tiers


@dataclass
class Efficiency:
    cost: Decimal = ZERO
    requests: int | None = None
    request_cost: Decimal = ZERO
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    small_tier_cost: Decimal = ZERO
    active_days: int = 0
    small_tier_rule: str = SMALL_TIER_RULE

    @property
    def cost_per_request(self) -> Decimal | None:
        return self.request_cost / self.requests if self.requests else None

    @property
    def cache_share(self) -> Decimal | None:
        return Decimal(self.cached_input_tokens * 100) / self.input_tokens if self.input_tokens else None

    @property
    def small_tier_share(self) -> Decimal | None:
        return self.small_tier_cost * 100 / self.cost if self.cost else None

    @property
    def spend_per_active_day(self) -> Decimal | None:
        return self.cost / self.active_days if self.active_days else None

    @property
    def output_per_input(self) -> Decimal | None:
        return Decimal(self.output_tokens) / self.input_tokens if self.input_tokens else None


def efficiency_of(rows: Iterable[dict]) -> Efficiency:
    """Figures from rollup rows grouped by (day, provider, model) with `cost`, `req` (requests) and `reported`
    (how many rows report requests), `request_cost` and the token sums `t_input_tokens`, `t_cached_input_tokens`,
    `t_output_tokens`."""
    rows = list(rows)
    tiers = model_tiers((row["provider"], row["model"]) for row in rows)
    figures, days = Efficiency(), set()
    for row in rows:
        figures.cost += row["cost"]
        if row["reported"]:
            figures.requests = (figures.requests or 0) + (row["req"] or 0)
            figures.request_cost += row["request_cost"] or ZERO
        figures.input_tokens += row["t_input_tokens"] or 0
        figures.cached_input_tokens += row["t_cached_input_tokens"] or 0
        figures.output_tokens += row["t_output_tokens"] or 0
        if tiers[row["provider"], row["model"]] == "small":
            figures.small_tier_cost += row["cost"]
        if row["cost"] or row["t_input_tokens"] or row["t_output_tokens"]:
            days.add(row["day"])
    figures.active_days = len(days)
    return figures
