"""What-if re-pricing: a past period's usage priced again under a change, read-only (nothing changes anywhere).

The usage is the daily rollups summed per (team, project, provider, model) over the period, with the token splits,
in one grouped query. Each such line keeps its recorded cost as the old cost; the new cost applies, in order:

1. the small-model shift: `shift` of the line's tokens and cost, when its model is large-tier (SMALL_TIER_RULE)
   and the line is in the chosen team or project, leave it; those tokens are priced at the target model's
   prices (manual prices first, then genai-prices);
2. the cache-hit share: where less than `cache` of a part's input tokens were cached reads, input tokens are
   moved from the uncached input price to the cache-read price of the part's model until it is `cache`
   (cache writes and output unchanged; a model with no known price is left as it is);
3. the price change: the cost of every part on the chosen provider and/or model times (1 + change).

Costs are kept in Decimal to the micro-dollar per line; pages round to the cent. Each step is linear in a line's
tokens, so the moved and the remaining share are priced as fractions of the line, without splitting it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum

from allocator.models import DailyRollup
from allocator.money import ZERO, to_micros
from allocator.usage.pricing import SMALL_TIER_RULE, Pricer, UnitPrice, manual_unit_prices, unit_tier

ONE = Decimal("1")
HUNDRED = Decimal("100")
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


@dataclass(frozen=True)
class Scenario:
    """The change to price a period under. Shares and the price change are fractions (0.5 is 50 %)."""

    start: date
    end: date  # exclusive
    price_change: Decimal = ZERO  # -1 .. 10
    price_provider: str = ""  # "" = every provider
    price_model: str = ""  # "" = every model
    shift: Decimal = ZERO  # 0 .. 1 of large-model tokens
    shift_team_id: int | None = None  # one of these two, or neither (every team)
    shift_project_id: int | None = None
    shift_target: tuple[str, str] | None = None  # (provider kind, model)
    cache: Decimal | None = None  # 0 .. 1 cache-hit share of input tokens, None = unchanged

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def changes_anything(self) -> bool:
        return bool(self.price_change) or (bool(self.shift) and self.shift_target is not None) or self.cache is not None


@dataclass
class Line:
    """Usage of one (team, project, provider, model) in the period, with its old and new cost."""

    team_id: int | None
    project_id: int | None
    provider: str
    model: str
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost: Decimal
    tier: str = "unpriced"
    new_cost: Decimal = ZERO


@dataclass
class Prices:
    """Unit prices and tiers by (provider kind, model): manual prices read once, then the genai-prices table."""

    manual: dict[tuple[str, str], UnitPrice] = field(default_factory=manual_unit_prices)
    pricers: dict[str, Pricer] = field(default_factory=dict)
    known: dict[tuple[str, str], tuple[UnitPrice | None, str]] = field(default_factory=dict)

    def lookup(self, provider: str, model: str) -> tuple[UnitPrice | None, str]:
        found = self.known.get((provider, model))
        if found is None:
            pricer = self.pricers.get(provider)
            if pricer is None:
                pricer = self.pricers[provider] = Pricer(provider=provider, manual=self.manual)
            unit = pricer.unit_price(model)
            found = self.known[provider, model] = (unit, unit_tier(unit))
        return found

    def unit(self, provider: str, model: str) -> UnitPrice | None:
        return self.lookup(provider, model)[0]

    def tier(self, provider: str, model: str) -> str:
        return self.lookup(provider, model)[1]


def tokens_cost(unit: UnitPrice, line: Line) -> Decimal:
    """The cost of a line's tokens at `unit` prices (input is the total input, cache reads and writes included;
    cache writes at the 5-minute rate: rollups keep no 1-hour split)."""
    uncached = max(line.input_tokens - line.cached_input_tokens - line.cache_write_tokens, 0)
    return (
        uncached * unit.input
        + line.cached_input_tokens * unit.cache_read
        + line.cache_write_tokens * unit.cache_write_5m
        + line.output_tokens * unit.output
    )


def usage_lines(*, start: date, end: date, team_ids: Iterable[int] | None = None) -> list[Line]:
    """The period's usage per (team, project, provider, model) from the rollups, one query; `team_ids` narrows it
    to those teams' usage (None: all of it, unattributed usage included)."""
    rows = DailyRollup.objects.filter(day__gte=start, day__lt=end)
    if team_ids is not None:
        rows = rows.filter(team_id__in=list(team_ids))
    sums = {name: Sum(name) for name in TOKEN_FIELDS}
    grouped = rows.values("team_id", "owner_project_id", "provider", "model").annotate(**sums, cost=Sum("cost_usd"))
    return [
        Line(
            team_id=row["team_id"],
            project_id=row["owner_project_id"],
            provider=row["provider"],
            model=row["model"],
            **{name: int(row[name] or 0) for name in TOKEN_FIELDS},
            cost=to_micros(Decimal(row["cost"] or ZERO)),
        )
        for row in grouped.order_by()
    ]


def reprice(lines: list[Line], scenario: Scenario, prices: Prices) -> list[Line]:
    """Each line with its `tier` and `new_cost` under the scenario; the lines are updated in place."""
    for line, cost in zip(lines, new_costs(lines, scenario, prices), strict=True):
        line.new_cost = cost
        line.tier = prices.tier(line.provider, line.model)
    return lines


def new_costs(lines: list[Line], scenario: Scenario, prices: Prices) -> list[Decimal]:
    """The new cost of each line under the scenario (the lines are left as they are).

    Every step is linear in a line's tokens, so the moved share and the share that stays are priced as fractions
    of the whole line: cached reads added to reach the cache share are the same fraction of each part.
    """
    target = prices.unit(*scenario.shift_target) if scenario.shift_target else None
    shifts = target is not None and bool(scenario.shift)
    target_factor = _price_factor(*scenario.shift_target, scenario) if shifts else ONE  # type: ignore[misc]
    factors: dict[tuple[str, str], Decimal] = {}
    out = []
    for line in lines:
        pair = (line.provider, line.model)
        unit, tier = prices.known.get(pair) or prices.lookup(*pair)
        factor = factors.get(pair) or factors.setdefault(pair, _price_factor(*pair, scenario))
        extra = _extra_cached(line, scenario.cache)
        kept = line.cost - extra * (unit.input - unit.cache_read) if extra and unit is not None else line.cost
        if shifts and tier == "large" and _in_shift_scope(line, scenario):
            share = scenario.shift
            moved = tokens_cost(target, line) - extra * (target.input - target.cache_read)  # type: ignore[union-attr]
            out.append(to_micros(kept * (ONE - share) * factor + moved * share * target_factor))
        else:
            out.append(to_micros(kept * factor))
    return out


def _extra_cached(line: Line, cache: Decimal | None) -> Decimal:
    """Input tokens to move from the input price to the cache-read price for `cache` of the input to be cached
    reads (never more than the uncached input there is; zero where the share is already reached)."""
    if cache is None or not line.input_tokens:
        return ZERO
    wanted = cache * line.input_tokens - line.cached_input_tokens
    room = line.input_tokens - line.cached_input_tokens - line.cache_write_tokens
    extra = min(wanted, Decimal(room))
    return extra if extra > 0 else ZERO


def _in_shift_scope(line: Line, scenario: Scenario) -> bool:
    if scenario.shift_project_id is not None:
        return line.project_id == scenario.shift_project_id
    if scenario.shift_team_id is not None:
        return line.team_id == scenario.shift_team_id
    return True


def _price_factor(provider: str, model: str, scenario: Scenario) -> Decimal:
    """1 + the price change where it applies to this provider's model, else 1."""
    if not scenario.price_change:
        return ONE
    if scenario.price_provider and provider != scenario.price_provider:
        return ONE
    if scenario.price_model and model != scenario.price_model:
        return ONE
    return ONE + scenario.price_change


def small_models(lines: Iterable[Line], prices: Prices) -> list[tuple[str, str]]:
    """The small-tier (provider, model) pairs used in the period: the targets offered for a shift."""
    pairs = {(line.provider, line.model) for line in lines}
    return sorted(pair for pair in pairs if prices.tier(*pair) == "small")


def assumptions(scenario: Scenario, *, names: dict[str, str]) -> list[str]:
    """The scenario in sentences, for the page and the CSV header. `names` gives "team"/"project"/"provider"
    display names of the scenario's choices."""
    out = [
        f"Period: {scenario.start:%Y-%m-%d} to {scenario.last_day:%Y-%m-%d} (UTC days), from the daily rollups; "
        "old cost is the cost recorded for that usage.",
    ]
    if scenario.shift and scenario.shift_target:
        where = names.get("shift_scope") or "every team"
        out.append(
            f"Move {_pct(scenario.shift)} of the large-model tokens of {where} to {scenario.shift_target[1]} "
            f"({names.get('shift_provider', scenario.shift_target[0])}), priced from token counts at its prices "
            f"(manual prices first, then genai-prices); models with no known price are not moved. {SMALL_TIER_RULE}"
        )
    if scenario.cache is not None:
        out.append(
            f"Cache-hit share of input tokens raised to at least {_pct(scenario.cache)} for every model with a known "
            "price; the extra cached reads are priced at the model's cache-read price instead of its input price "
            "(cache writes and output unchanged)."
        )
    if scenario.price_change:
        what = " ".join(filter(None, [names.get("price_provider", ""), scenario.price_model])) or "every model"
        sign = "+" if scenario.price_change > 0 else ""
        out.append(f"Price change of {sign}{_pct(scenario.price_change)} on {what}.")
    if not scenario.changes_anything:
        out.append("No change chosen: new cost equals old cost.")
    out.append("Nothing changes at the providers: this is arithmetic on past usage.")
    return out


def _pct(share: Decimal) -> str:
    value = (share * HUNDRED).normalize()
    return f"{value:f} %"
