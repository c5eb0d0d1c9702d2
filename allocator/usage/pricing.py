"""Pricing usage rows: provider cost first, then a manual ModelPrice, then the genai-prices table.

genai-prices is asked once per (provider, model) for its per-token prices (input, cache read, cache write
5 minutes / 1 hour, output); rows are then priced by Decimal multiplication, so a million rows cost a few
dict look-ups each instead of a million `calc_price` calls. Prices are probed with small token counts, so
long-context tiers (e.g. above 200k input tokens per request) never apply: a bucket aggregates many
requests, and tiers are per request.

A model nobody knows is priced at zero with cost source "unknown"; the sync records it so the sync status
page and the admin can flag it until someone sets a manual price.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from allocator.models import ModelPrice, UsageBucket
from allocator.money import MICRO, ZERO, to_micros
from allocator.providers import PROVIDERS, provider_class
from allocator.providers.base import UsageRow

logger = logging.getLogger(__name__)

PER_MTOK = Decimal("1000000")
_PROBE = 1000  # tokens per probe: small enough to stay in the base tier of tiered prices

CostSource = UsageBucket.CostSource
# Plain strings (not enum members): they go straight into SQL and COPY text.
PROVIDER, PRICE_TABLE, MANUAL, UNKNOWN = "provider", "price_table", "manual", "unknown"
_MISSING = object()


PICO_PER_USD = 10**12
PICO_PER_MICRO = 10**6


@dataclass(frozen=True)
class UnitPrice:
    """USD per token of each kind, and where the prices came from.

    Rows are priced a million at a time, so `cost` works in whole pico-dollars: every price here is a Decimal
    with at most 12 places per token (6 per million tokens), so price × 10¹² is an exact integer and integer
    arithmetic gives exactly what Decimal multiplication would, at a fraction of its cost. The result is a
    Decimal rounded half up to the micro-dollar, as `to_micros` does. A price that does not fit (never seen) falls
    back to Decimal arithmetic.
    """

    input: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal
    source: str  # PRICE_TABLE or MANUAL
    pico: tuple[int, int, int, int, int] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        scaled = [p * PICO_PER_USD for p in (self.input, self.cache_read, self.cache_write_5m, self.cache_write_1h,
                                             self.output)]  # fmt: skip
        exact = all(p == p.to_integral_value() for p in scaled)
        object.__setattr__(self, "pico", tuple(int(p) for p in scaled) if exact else None)

    def cost(self, row: UsageRow) -> Decimal:
        """Cost of a row's tokens. `row.input_tokens` is the total input, cache reads and writes included."""
        if self.pico is None:
            return self.decimal_cost(row)
        per_input, per_read, per_write_5m, per_write_1h, per_output = self.pico
        cached, writes = row.cached_input_tokens, row.cache_write_tokens
        uncached = row.input_tokens - cached - writes
        pico = (uncached if uncached > 0 else 0) * per_input + row.output_tokens * per_output
        if cached:
            pico += cached * per_read
        if writes:
            long = row.cache_write_1h_tokens
            pico += (writes - long) * per_write_5m + long * per_write_1h
        if pico < 0:  # inconsistent counts: let Decimal round it
            return self.decimal_cost(row)
        micros, rest = divmod(pico, PICO_PER_MICRO)
        return Decimal(micros + (rest * 2 >= PICO_PER_MICRO)) * MICRO

    def decimal_cost(self, row: UsageRow) -> Decimal:
        """The same cost in Decimal arithmetic (the reference `cost` must equal)."""
        cached, writes = row.cached_input_tokens, row.cache_write_tokens
        uncached = max(row.input_tokens - cached - writes, 0)
        long = row.cache_write_1h_tokens
        total = (
            uncached * self.input
            + cached * self.cache_read
            + (writes - long) * self.cache_write_5m
            + long * self.cache_write_1h
            + row.output_tokens * self.output
        )
        return to_micros(total)


def price_table_provider(provider: str, model: str) -> str | None:
    """The genai-prices provider id for a model seen on one of our provider kinds.

    The simulated provider reports real model names ("gpt-4o-mini", "claude-sonnet-4"), priced as at the
    real provider; None lets genai-prices find the provider from the model name.
    """
    if provider in PROVIDERS and not provider_class(provider).reports_real_models:
        return provider
    name = model.lower()
    if "/" in name:
        return "openrouter"
    if name.startswith("claude"):
        return "anthropic"
    if name.startswith(("gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding", "davinci", "babbage")):
        return "openai"
    return None


def _table_unit_price(provider: str, model: str) -> UnitPrice | None:
    from genai_prices import Usage, calc_price

    provider_id = price_table_provider(provider, model)

    def probe(**usage: int) -> Decimal:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # genai-prices warns about usage keys a model has no price for
            result = calc_price(Usage(**usage), model, provider_id=provider_id)
        return Decimal(result.total_price) / _PROBE

    try:
        return UnitPrice(
            input=probe(input_tokens=_PROBE),
            cache_read=probe(input_tokens=_PROBE, cache_read_tokens=_PROBE),
            cache_write_5m=probe(input_tokens=_PROBE, cache_write_tokens=_PROBE),
            cache_write_1h=probe(input_tokens=_PROBE, cache_write_tokens=_PROBE, cache_write_1h_tokens=_PROBE),
            output=probe(output_tokens=_PROBE),
            source=PRICE_TABLE,
        )
    except LookupError:
        return None
    except Exception:  # noqa: BLE001 - a price-table bug must not stop a sync; the model shows as unknown
        logger.exception("genai-prices failed for %s/%s", provider, model)
        return None


def _manual_unit_price(price: ModelPrice) -> UnitPrice:
    return UnitPrice(
        input=price.input_per_mtok / PER_MTOK,
        cache_read=price.cached_input_per_mtok / PER_MTOK,
        cache_write_5m=price.cache_write_per_mtok / PER_MTOK,
        cache_write_1h=price.cache_write_per_mtok / PER_MTOK,
        output=price.output_per_mtok / PER_MTOK,
        source=MANUAL,
    )


def manual_unit_prices() -> dict[tuple[str, str], UnitPrice]:
    """Every manual price by (provider kind, model), in one query (several Pricers can share it)."""
    return {(p.provider, p.model): _manual_unit_price(p) for p in ModelPrice.objects.all()}


class Pricer:
    """Prices the rows of one sync. Build one per run: manual prices are read once, at the start.

    `unknown_models` collects the models priced at zero because neither a manual price nor the table knew them.
    """

    def __init__(self, *, provider: str, manual: dict[tuple[str, str], UnitPrice] | None = None) -> None:
        self.provider = provider
        self.unknown_models: set[str] = set()
        self._units: dict[str, UnitPrice | None] = {}
        self._manual = manual_unit_prices() if manual is None else manual

    def unit_price(self, model: str) -> UnitPrice | None:
        try:
            return self._units[model]
        except KeyError:
            pass
        unit = self._manual.get((self.provider, model))
        if unit is None:
            real = price_table_provider(self.provider, model)
            unit = (self._manual.get((real, model)) if real else None) or _cached_table_price(self.provider, model)
        self._units[model] = unit
        return unit

    def price(self, row: UsageRow) -> tuple[Decimal, Decimal, str]:
        """(estimated cost, cost, cost source) for one row. The provider's own per-row cost wins."""
        if row.cost_usd is not None:
            cost = to_micros(row.cost_usd)
            return cost, cost, PROVIDER
        unit = self._units.get(row.model, _MISSING)
        if unit is _MISSING:
            unit = self.unit_price(row.model)
        if unit is None:
            self.unknown_models.add(row.model)
            return ZERO, ZERO, UNKNOWN
        estimate = unit.cost(row)
        return estimate, estimate, unit.source


_TABLE_CACHE: dict[tuple[str, str], UnitPrice | None] = {}


def _cached_table_price(provider: str, model: str) -> UnitPrice | None:
    """genai-prices' snapshot is fixed for the life of the process, so its unit prices are cached per process."""
    key = (provider, model)
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = _table_unit_price(provider, model)
    return _TABLE_CACHE[key]


def price_row(row: UsageRow, *, provider: str) -> tuple[Decimal, Decimal, str]:
    """Price one row (convenience for callers outside a sync)."""
    return Pricer(provider=provider).price(row)


# --- model tiers ---------------------------------------------------------------------------------------

SMALL_TIER_MAX_INPUT_PER_MTOK = Decimal("1.00")
SMALL_TIER_RULE = (
    f"A model is small-tier when its input price is at most ${SMALL_TIER_MAX_INPUT_PER_MTOK} per million tokens "
    "(your manual prices first, then the genai-prices table); models with no known price are counted as large."
)


def unit_tier(unit: UnitPrice | None) -> str:
    """The tier ("small", "large", "unpriced") of a model with this unit price, by SMALL_TIER_RULE."""
    if unit is None:
        return "unpriced"
    return "small" if unit.input * PER_MTOK <= SMALL_TIER_MAX_INPUT_PER_MTOK else "large"


def model_tiers(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The tier ("small", "large", "unpriced") of each (provider kind, model) by SMALL_TIER_RULE."""
    pricers: dict[str, Pricer] = {}
    tiers: dict[tuple[str, str], str] = {}
    for provider, model in set(pairs):
        pricer = pricers.get(provider) or pricers.setdefault(provider, Pricer(provider=provider))
        tiers[provider, model] = unit_tier(pricer.unit_price(model))
    return tiers


def model_tier(provider: str, model: str) -> str:
    """The tier of one model (see SMALL_TIER_RULE)."""
    return model_tiers([(provider, model)])[provider, model]
