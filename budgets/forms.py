"""Forms of the budget pages: a budget amount (set or split) and a bump request."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from accounts.models import User
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
    budget = forms.ModelChoiceField(queryset=Budget.objects.none(), label="Budget", empty_label=None)
    amount_usd = MoneyField(label="Extra this quarter (USD)", min_value=Decimal("1"))
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What is it for? e.g. eval run for the new ranker"}),
        max_length=REASON_MAX,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["budget"]
        field.queryset = bump_services.bumpable_budgets(user)
        field.label_from_instance = lambda b: f"{b.scope_label} — {usd(b.amount_usd)} ({b.kind_label})"
