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

Costs are kept in Decimal to the micro-dollar per line; pages round to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    moved_cost: Decimal = ZERO  # old cost of the tokens the shift moved


@dataclass
class Part:
    """Tokens (fractional once a share is moved) priced as one provider's model."""

    provider: str
    model: str
    input_tokens: Decimal
    cached_input_tokens: Decimal
    cache_write_tokens: Decimal
    output_tokens: Decimal
    cost: Decimal

    def scaled(self, share: Decimal) -> Part:
        return Part(self.provider, self.model, *(getattr(self, f) * share for f in TOKEN_FIELDS), self.cost * share)


@dataclass
class Prices:
    """Unit prices by (provider kind, model): manual prices read once, then the genai-prices table."""

    manual: dict[tuple[str, str], UnitPrice] = field(default_factory=manual_unit_prices)
    pricers: dict[str, Pricer] = field(default_factory=dict)

    def unit(self, provider: str, model: str) -> UnitPrice | None:
        pricer = self.pricers.get(provider)
        if pricer is None:
            pricer = self.pricers[provider] = Pricer(provider=provider, manual=self.manual)
        return pricer.unit_price(model)

    def tier(self, provider: str, model: str) -> str:
        return unit_tier(self.unit(provider, model))


def tokens_cost(unit: UnitPrice, part: Part) -> Decimal:
    """The cost of a part's tokens at `unit` prices (input is the total input, cache reads and writes included;
    cache writes at the 5-minute rate: rollups keep no 1-hour split)."""
    uncached = max(part.input_tokens - part.cached_input_tokens - part.cache_write_tokens, ZERO)
    return (
        uncached * unit.input
        + part.cached_input_tokens * unit.cache_read
        + part.cache_write_tokens * unit.cache_write_5m
        + part.output_tokens * unit.output
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
    """Each line with `new_cost` (and `tier`, `moved_cost`) under the scenario; the lines are updated in place."""
    target = prices.unit(*scenario.shift_target) if scenario.shift_target else None
    for line in lines:
        line.tier = prices.tier(line.provider, line.model)
        whole = Part(line.provider, line.model, *(Decimal(getattr(line, f)) for f in TOKEN_FIELDS), line.cost)
        parts = [whole]
        if target is not None and scenario.shift and line.tier == "large" and _in_shift_scope(line, scenario):
            moved = whole.scaled(scenario.shift)
            line.moved_cost = to_micros(moved.cost)
            provider, model = scenario.shift_target  # type: ignore[misc]
            moved = replace(moved, provider=provider, model=model)
            moved.cost = tokens_cost(target, moved)
            parts = [whole.scaled(ONE - scenario.shift), moved]
        else:
            line.moved_cost = ZERO
        if scenario.cache is not None:
            parts = [_cached(part, scenario.cache, prices) for part in parts]
        if scenario.price_change:
            parts = [_price_changed(part, scenario) for part in parts]
        line.new_cost = to_micros(sum((part.cost for part in parts), ZERO))
    return lines


def _in_shift_scope(line: Line, scenario: Scenario) -> bool:
    if scenario.shift_project_id is not None:
        return line.project_id == scenario.shift_project_id
    if scenario.shift_team_id is not None:
        return line.team_id == scenario.shift_team_id
    return True


def _cached(part: Part, cache: Decimal, prices: Prices) -> Part:
    unit = prices.unit(part.provider, part.model)
    if unit is None or not part.input_tokens:
        return part
    extra = cache * part.input_tokens - part.cached_input_tokens
    room = part.input_tokens - part.cached_input_tokens - part.cache_write_tokens  # uncached input left to move
    extra = min(extra, room)
    if extra <= 0:
        return part
    saving = extra * (unit.input - unit.cache_read)
    return replace(part, cached_input_tokens=part.cached_input_tokens + extra, cost=part.cost - saving)


def _price_changed(part: Part, scenario: Scenario) -> Part:
    if scenario.price_provider and part.provider != scenario.price_provider:
        return part
    if scenario.price_model and part.model != scenario.price_model:
        return part
    return replace(part, cost=part.cost * (ONE + scenario.price_change))


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
            f"(manual prices first, then genai-prices). {SMALL_TIER_RULE}"
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
