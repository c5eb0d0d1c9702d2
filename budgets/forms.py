"""Forms of the budget pages: a budget amount (set or split) and a bump request (a budget or a key's allowance)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from accounts.models import User
from allocator.models import Key
from allocator.money import MoneyField, usd
from budgets import bumps as bump_services
from budgets.models import Budget

REASON_MAX = 2000


class AmountForm(forms.Form):
    amount_usd = MoneyField(label="Amount (USD)")
    hard = forms.TypedChoiceField(
        label="Kind",
        choices=[("1", "Hard: suspend keys at 100 %"), ("0", "Soft: alerts only")],
        coerce=lambda v: v == "1",
        initial="1",
        required=False,
        empty_value=True,
    )

    def error_text(self) -> str:
        return " ".join(
            f"{self.fields[f].label}: {m}" if f != "__all__" else m for f, ms in self.errors.items() for m in ms
        )


class BumpForm(forms.Form):
    """A bump of one budget, or of one key's quarterly allowance: the `budget` choice is a budget's id, or
    "key:<id>" for a key (grouped "Budgets" / "Key allowances")."""

    budget = forms.ChoiceField(label="Budget or key allowance")
    amount_usd = MoneyField(label="Extra this quarter (USD)", min_value=Decimal("1"))
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What is it for? e.g. eval run for the new ranker"}),
        max_length=REASON_MAX,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budgets = {str(b.pk): b for b in bump_services.bumpable_budgets(user)}
        self.keys = {f"key:{k.pk}": k for k in bump_services.bumpable_keys(user)}
        groups: list[tuple[str, list[tuple[str, str]]]] = []
        if self.budgets:
            groups.append(
                (
                    "Budgets",
                    [(v, f"{b.scope_label} — {usd(b.amount_usd)} ({b.kind_label})") for v, b in self.budgets.items()],
                )
            )
        if self.keys:
            groups.append(
                ("Key allowances", [(v, f"key {k.name} — {usd(k.limit_usd)} a quarter") for v, k in self.keys.items()])
            )
        self.fields["budget"].choices = groups

    @property
    def has_targets(self) -> bool:
        return bool(self.budgets or self.keys)

    def clean_budget(self) -> Budget | Key:
        value = self.cleaned_data["budget"]
        return self.budgets.get(value) or self.keys[value]

    def target(self) -> dict[str, Budget | Key]:
        """The chosen target as the bump service's keyword: {"budget": ...} or {"key": ...}."""
        chosen = self.cleaned_data["budget"]
        return {"key": chosen} if isinstance(chosen, Key) else {"budget": chosen}
