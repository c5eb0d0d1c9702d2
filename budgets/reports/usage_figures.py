"""Efficiency figures of one person's (or key's) usage: what a careful heavy user does differently from a wasteful one.

- cost per request: cost of the usage that reports requests ÷ those requests (Anthropic reports none: n/a);
- cache share: input tokens served from the prompt cache ÷ all input tokens;
- small-tier share: spend on small-tier models ÷ all spend (SMALL_TIER_RULE says which models are small);
- spend per active day: spend ÷ days with any usage;
- output per input token: output tokens ÷ input tokens.

Coding-tool seats (rollup rows of the model "seat", booked on the first day of their month) are a fixed monthly
price, not usage: they are left out of every figure, so they count neither as large-tier spend nor make the 1st of
the month an active day.

`efficiency_ratios` is the one place these ratios are computed: the person page (here) and the efficiency board
(budgets.reports.efficiency) both call it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from allocator.coding.rollups import SEAT_MODEL
from allocator.money import ZERO
from allocator.usage.pricing import SMALL_TIER_RULE, model_tiers


@dataclass(frozen=True)
class Ratios:
    """The five efficiency ratios (None where there is nothing to divide by); shares are fractions 0..1."""

    cost_per_request: Decimal | None
    cache_share: Decimal | None
    small_tier_share: Decimal | None
    spend_per_active_day: Decimal | None
    output_per_input: Decimal | None


def _ratio(numerator: Decimal | int, denominator: Decimal | int | None) -> Decimal | None:
    return Decimal(numerator) / Decimal(denominator) if denominator else None


def efficiency_ratios(
    *,
    cost: Decimal,
    requests: int | None,
    input_tokens: int,
    cached_input_tokens: int,
    output_tokens: int,
    small_tier_cost: Decimal,
    active_days: int,
    request_cost: Decimal | None = None,
) -> Ratios:
    """The ratios of one scope's usage. `request_cost` is the cost of the usage that reports requests, where it
    differs from `cost` (a person mixing Anthropic with other providers); by default all of `cost`."""
    return Ratios(
        cost_per_request=_ratio(cost if request_cost is None else request_cost, requests),
        cache_share=_ratio(cached_input_tokens, input_tokens),
        small_tier_share=_ratio(small_tier_cost, cost),
        spend_per_active_day=_ratio(cost, active_days),
        output_per_input=_ratio(output_tokens, input_tokens),
    )


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
    def ratios(self) -> Ratios:
        return efficiency_ratios(
            cost=self.cost, requests=self.requests, request_cost=self.request_cost, input_tokens=self.input_tokens,
            cached_input_tokens=self.cached_input_tokens, output_tokens=self.output_tokens,
            small_tier_cost=self.small_tier_cost, active_days=self.active_days,
        )  # fmt: skip

    @property
    def cost_per_request(self) -> Decimal | None:
        return self.ratios.cost_per_request

    @property
    def cache_share(self) -> Decimal | None:
        """In percent (the person page shows it so)."""
        share = self.ratios.cache_share
        return None if share is None else share * 100

    @property
    def small_tier_share(self) -> Decimal | None:
        """In percent."""
        share = self.ratios.small_tier_share
        return None if share is None else share * 100

    @property
    def spend_per_active_day(self) -> Decimal | None:
        return self.ratios.spend_per_active_day

    @property
    def output_per_input(self) -> Decimal | None:
        return self.ratios.output_per_input


def efficiency_of(rows: Iterable[dict]) -> Efficiency:
    """Figures from rollup rows grouped by (day, provider, model) with `cost`, `req` (requests) and `reported`
    (how many rows report requests), `request_cost` and the token sums `t_input_tokens`, `t_cached_input_tokens`,
    `t_output_tokens`. Seat rows are left out (see the module docstring)."""
    rows = [row for row in rows if row["model"] != SEAT_MODEL]
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
