"""What-if arithmetic against hand-computed examples (tests/whatif_helpers.py gives the prices and rows).

Every expected figure is worked out by hand in the comments: manual prices per million tokens, so the
arithmetic is exact in Decimal.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from allocator.usage.pricing import PER_MTOK, UnitPrice
from budgets.whatif.repricing import Line, Prices, Scenario, reprice, usage_lines
from budgets.whatif.savings import savings_opportunities
from tests.factories import ProjectFactory
from tests.whatif_helpers import BIG, SMALL, USAGE_DAY, whatif_usage

D = Decimal
START, END = date(2026, 11, 1), date(2026, 12, 1)


def _unit(inp: str, cached: str, write: str, out: str) -> UnitPrice:
    return UnitPrice(input=D(inp) / PER_MTOK, cache_read=D(cached) / PER_MTOK, cache_write_5m=D(write) / PER_MTOK,
                     cache_write_1h=D(write) / PER_MTOK, output=D(out) / PER_MTOK, source="manual")  # fmt: skip


PRICES = {
    ("simulated", BIG): _unit("10", "1", "12.5", "30"),
    ("simulated", SMALL): _unit("0.5", "0.05", "0.625", "1.5"),
}


def _lines() -> list[Line]:
    """Team 1's project 7 (big and small model) and team 2 (big model), as tests/whatif_helpers.py writes them."""
    return [
        Line(1, 7, "simulated", BIG, 1_000_000, 200_000, 0, 100_000, D("11.20")),
        Line(1, 7, "simulated", SMALL, 2_000_000, 0, 0, 1_000_000, D("2.50")),
        Line(2, None, "simulated", BIG, 100_000, 0, 0, 10_000, D("1.30")),
    ]


def _new(scenario: Scenario) -> list[Decimal]:
    return [line.new_cost for line in reprice(_lines(), scenario, Prices(manual=PRICES))]


def test_no_change_keeps_every_cost():
    assert _new(Scenario(start=START, end=END)) == [D("11.20"), D("2.50"), D("1.30")]


def test_half_of_a_teams_large_model_tokens_to_the_small_model():
    # Team 1, big model: half stays (11.20 / 2 = 5.60); the other half's tokens (500,000 input of which 100,000
    # cached, 50,000 output) at small-model prices: 400,000 × 0.50 + 100,000 × 0.05 + 50,000 × 1.50 per million
    # = 0.20 + 0.005 + 0.075 = 0.28. New 5.88. The small-model line and team 2 (out of scope) are unchanged.
    scenario = Scenario(start=START, end=END, shift=D("0.5"), shift_team_id=1, shift_target=("simulated", SMALL))
    assert _new(scenario) == [D("5.880000"), D("2.50"), D("1.30")]


def test_shift_of_every_team_and_of_one_project():
    # Team 2 too: 0.65 stays; 50,000 input × 0.50 + 5,000 output × 1.50 per million = 0.025 + 0.0075 = 0.0325.
    everyone = Scenario(start=START, end=END, shift=D("0.5"), shift_target=("simulated", SMALL))
    assert _new(everyone) == [D("5.88"), D("2.50"), D("0.6825")]
    project = Scenario(start=START, end=END, shift=D("1"), shift_project_id=7, shift_target=("simulated", SMALL))
    # All of project 7's big-model tokens: 800,000 × 0.50 + 200,000 × 0.05 + 100,000 × 1.50 = 0.40 + 0.01 + 0.15.
    assert _new(project) == [D("0.56"), D("2.50"), D("1.30")]


def test_higher_cache_hit_share():
    # 50 % of input cached: big line 300,000 more cached reads at 10 − 1 = $9 per million less: 11.20 − 2.70;
    # small line 1,000,000 at 0.50 − 0.05: 2.50 − 0.45; team 2 50,000 at $9: 1.30 − 0.45.
    assert _new(Scenario(start=START, end=END, cache=D("0.5"))) == [D("8.50"), D("2.05"), D("0.85")]
    # A share already reached changes nothing (the big line has 20 % cached).
    assert _new(Scenario(start=START, end=END, cache=D("0.2")))[0] == D("11.20")


def test_price_change_on_a_model_and_on_a_provider():
    assert _new(Scenario(start=START, end=END, price_change=D("0.1"), price_model=BIG)) == [
        D("12.32"), D("2.50"), D("1.43")
    ]  # fmt: skip
    assert _new(Scenario(start=START, end=END, price_change=D("-0.2"), price_provider="simulated")) == [
        D("8.96"), D("2.00"), D("1.04")
    ]  # fmt: skip
    assert _new(Scenario(start=START, end=END, price_change=D("0.1"), price_provider="openai")) == [
        D("11.20"), D("2.50"), D("1.30")
    ]  # fmt: skip


def test_all_three_changes_together():
    # Team 1 big line: kept half (500,000 input, 100,000 cached, cost 5.60) cached to 250,000: 150,000 × $9 per
    # million = 1.35 less → 4.25, +10 % → 4.675; moved half at small prices 0.28, cached to 250,000: 150,000 ×
    # 0.45 = 0.0675 less → 0.2125 (the price change is on big-model only). 4.675 + 0.2125 = 4.8875.
    # Small line: cache → 2.05. Team 2: cache → 0.85, +10 % → 0.935.
    scenario = Scenario(start=START, end=END, shift=D("0.5"), shift_team_id=1, shift_target=("simulated", SMALL),
                        cache=D("0.5"), price_change=D("0.1"), price_model=BIG)  # fmt: skip
    assert _new(scenario) == [D("4.8875"), D("2.05"), D("0.935")]


def test_savings_opportunities_with_the_numbers_behind_them():
    names = {("team", 1): "Search", ("project", 7): "Ranking", ("team", 2): "Growth"}
    savings = savings_opportunities(_lines(), Scenario(start=START, end=END), Prices(manual=PRICES), names=names)
    assert (savings.shift, savings.cache, savings.target) == (D("0.5"), D("0.5"), ("simulated", SMALL))
    rows = [(o.kind, o.name, o.cost, o.large_cost, o.shift_saving, o.cache_saving, o.saving) for o in
            savings.opportunities]  # fmt: skip
    # Team 1 / project 7: shift saves 11.20 − 5.88 = 5.32, caching 2.70 + 0.45 = 3.15, both: kept half 4.25 +
    # moved half 0.2125 + small line 2.05 = 6.5125, a saving of 7.1875. Team 2: shift 1.30 − 0.6825, caching
    # 0.45; both: kept 0.65 − 25,000 × $9 = 0.425, moved 0.0325 − 25,000 × 0.45 = 0.02125: 1.30 − 0.44625.
    assert rows == [
        ("project", "Ranking", D("13.70"), D("11.20"), D("5.32"), D("3.15"), D("7.1875")),
        ("team", "Search", D("13.70"), D("11.20"), D("5.32"), D("3.15"), D("7.1875")),
        ("team", "Growth", D("1.30"), D("1.30"), D("0.6175"), D("0.45"), D("0.85375")),
    ]
    assert savings.opportunities[1].cache_share == D(200_000) / D(3_000_000)


@pytest.mark.django_db
def test_lines_are_the_rollups_summed_per_team_project_and_model(team, other_team, simulated):
    project = ProjectFactory(team=team, kind="run")
    whatif_usage(project=project, other_team=other_team, account=simulated)
    lines = usage_lines(start=USAGE_DAY, end=date(2026, 11, 3))
    got = sorted((line.team_id, line.project_id, line.model, line.input_tokens, line.cost) for line in lines)
    assert got == sorted([
        (team.pk, project.pk, BIG, 1_000_000, D("11.20")),
        (team.pk, project.pk, SMALL, 2_000_000, D("2.50")),
        (other_team.pk, None, BIG, 100_000, D("1.30")),
    ])  # fmt: skip
    assert [line.team_id for line in usage_lines(start=USAGE_DAY, end=date(2026, 11, 3), team_ids=[team.pk])] == [
        team.pk, team.pk
    ]  # fmt: skip
    assert usage_lines(start=date(2026, 11, 3), end=date(2026, 11, 4)) == []
