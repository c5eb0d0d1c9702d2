"""A key's quarterly allowance (`Key.limit_usd`), enforced like a hard budget of its own scope, "key:<pk>".

Enforcement (budgets.enforce) reads each key's allowance with the key itself and its spend from the same grouped
rollup query as every other scope, so allowances cost no queries of their own. The allowance alerts at the
policy's thresholds (one alert per crossing) and suspends the key at 100 %; the key comes back when the
allowance is raised (`key_allowance_raise`, e.g. by an approved bump that targets the key) or a new quarter
starts. A key without an allowance (empty or zero, shown as "—") is limited only by its budgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.urls import reverse

from allocator.models import Key
from allocator.money import ZERO, clamp, to_cents
from allocator.quarters import Quarter
from budgets.models import scope_key
from budgets.spend import KEY_SCOPE


@dataclass(frozen=True)
class Allowance:
    """The allowance of one key, shaped like a Budget for thresholds and enforcement (no queries)."""

    key_id: int
    name: str
    amount_usd: Decimal
    team_id: int
    owner_user_id: int | None
    owner_project_id: int | None
    quarter: str  # the quarter's name, e.g. FY2027-Q1: an allowance is spent per quarter

    scope = KEY_SCOPE
    hard = True
    noun = "quarterly allowance"

    @classmethod
    def from_row(cls, row: dict, *, quarter: str) -> Allowance | None:
        """From a Key `.values()` row with pk, name, limit_usd, team_id, owner_user_id, owner_project_id."""
        if not row["limit_usd"] or row["limit_usd"] <= ZERO:
            return None
        return cls(
            key_id=row["pk"],
            name=row["name"],
            amount_usd=row["limit_usd"],
            team_id=row["team_id"],
            owner_user_id=row["owner_user_id"],
            owner_project_id=row["owner_project_id"],
            quarter=quarter,
        )

    @classmethod
    def of(cls, key: Key) -> Allowance | None:
        """The key's allowance for the current quarter."""
        row = {f: getattr(key, f) for f in ("name", "limit_usd", "team_id", "owner_user_id", "owner_project_id")}
        return cls.from_row({**row, "pk": key.pk}, quarter=Quarter.current().name)

    @property
    def scope_id(self) -> int:
        return self.key_id

    @property
    def scope_key(self) -> str:
        return scope_key(KEY_SCOPE, self.key_id)

    @property
    def scope_label(self) -> str:
        return f"key {self.name}"

    @property
    def scope_title(self) -> str:
        return f"Key {self.name}"

    def alert_targets(self) -> dict:
        """Who an alert about this allowance concerns: the key, its owner and its team."""
        return {
            "key_id": self.key_id,
            "team_id": self.team_id,
            "user_id": self.owner_user_id,
            "project_id": self.owner_project_id,
        }

    def get_absolute_url(self) -> str:
        return reverse("allocator:key_detail", args=[self.key_id])


@transaction.atomic
def key_allowance_raise(*, key: Key, amount_usd: Decimal) -> Key:
    """Add `amount_usd` to a key's quarterly allowance (an approved bump that targets the key).

    Thresholds the key is already past are recorded as superseded (so the raise does not re-announce them), and
    enforcement runs after commit: a key suspended because its allowance was spent comes back if there is room.
    """
    from budgets.tasks import enforce_budgets
    from budgets.thresholds import record_crossed_thresholds

    key = Key.objects.select_for_update().get(pk=key.pk)
    key.limit_usd = clamp(to_cents((key.limit_usd or ZERO) + amount_usd), low=ZERO)
    key.save(update_fields=["limit_usd"])
    allowance = Allowance.of(key)
    if allowance is not None:
        record_crossed_thresholds(budget=allowance)
    transaction.on_commit(enforce_budgets.delay)
    return key
