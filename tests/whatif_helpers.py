"""Usage with hand-checkable prices for the what-if and concentration tests.

Manual prices (USD per million tokens; manual prices win over the price table):
- big-model:   input 10, cached input 1, cache write 12.50, output 30  (large tier: input above $1)
- small-model: input 0.50, cached input 0.05, cache write 0.625, output 1.50  (small tier)

USAGE_DAY's rows, each priced at those prices:
- team's run project, big-model: 1,000,000 input (200,000 cached), 100,000 output:
  800,000 × 10 + 200,000 × 1 + 100,000 × 30 per million = 8 + 0.20 + 3 = $11.20
- team's run project, small-model: 2,000,000 input, 1,000,000 output: 1.00 + 1.50 = $2.50
- other team (a person's key), big-model: 100,000 input, 10,000 output: 1.00 + 0.30 = $1.30
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from allocator.models import Key, ModelPrice
from allocator.quarters import Quarter
from tests.budget_factories import spend
from tests.factories import KeyFactory

USAGE_DAY = date(2026, 11, 2)
BIG, SMALL = "big-model", "small-model"


def quarter_name() -> str:
    return Quarter.containing(USAGE_DAY).name


def manual_prices(provider: str = "simulated") -> None:
    ModelPrice.objects.create(provider=provider, model=BIG, input_per_mtok=Decimal("10"),
                              cached_input_per_mtok=Decimal("1"), cache_write_per_mtok=Decimal("12.5"),
                              output_per_mtok=Decimal("30"))  # fmt: skip
    ModelPrice.objects.create(provider=provider, model=SMALL, input_per_mtok=Decimal("0.5"),
                              cached_input_per_mtok=Decimal("0.05"), cache_write_per_mtok=Decimal("0.625"),
                              output_per_mtok=Decimal("1.5"))  # fmt: skip


def project_key(project, account) -> Key:
    return KeyFactory(account=account, owner_user=None, owner_project=project, team=project.team)


def whatif_usage(*, project, other_team, account) -> dict[str, Key]:
    """The three rows above (prices included); returns the keys."""
    manual_prices(account.kind)
    key = project_key(project, account)
    other = KeyFactory(account=account, team=other_team)
    spend(key, "11.20", day=USAGE_DAY, model=BIG, tokens=(1_000_000, 200_000, 0, 100_000), requests=10)
    spend(key, "2.50", day=USAGE_DAY, model=SMALL, tokens=(2_000_000, 0, 0, 1_000_000), requests=10)
    spend(other, "1.30", day=USAGE_DAY, model=BIG, tokens=(100_000, 0, 0, 10_000), requests=1)
    return {"project": key, "other": other}
