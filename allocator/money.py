"""Money: the one place for zero, rounding, bounds, validating a typed amount and the money form field.

Budget money is kept in cents (`max_digits=12, decimal_places=2`), usage cost to 6 places. Every amount a person
types is bounded by `MAX_USD`, far below what the columns hold, so sums of many bounded amounts (a budget plus its
bumps, a cost center's teams) still fit the columns and never raise `decimal.InvalidOperation`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import forms
from django.db.models import DecimalField, Sum, Value
from django.db.models.functions import Coalesce

ZERO = Decimal("0")
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")

# The largest amount anyone may type for a budget, bump, allowance, cap or limit: $10 million a quarter.
MAX_USD = Decimal("10000000")
# What the cents columns hold (max_digits=12, decimal_places=2): just under $10 billion.
COLUMN_MAX_USD = Decimal("9999999999.99")

# Output field for annotations and aggregates over money columns (6 places covers both kinds).
MONEY = DecimalField(max_digits=18, decimal_places=6)


def to_cents(value: Decimal | int | str) -> Decimal:
    """The one rounding rule for budget money: two places, half up (as invoices do)."""
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def to_micros(value: Decimal) -> Decimal:
    """Round a usage cost to 6 places, half up (the one rounding rule for usage money)."""
    return value.quantize(MICRO, rounding=ROUND_HALF_UP)


def usd(value: Decimal | int | str | None) -> str:
    """`$1,234.50` for display and messages; survives any stored value (never raises)."""
    if value is None:
        return "$0.00"
    try:
        return f"${to_cents(value):,}"
    except (InvalidOperation, ValueError, TypeError):
        return f"${value}"


def clamp(value: Decimal, *, low: Decimal = -COLUMN_MAX_USD, high: Decimal = COLUMN_MAX_USD) -> Decimal:
    """Bound a computed amount so that writing it to a cents column cannot overflow."""
    return max(low, min(high, value))


def sum_money(field_name: str) -> Coalesce:
    """`Sum(field)` that is 0 (not None) over no rows, typed as money."""
    return Coalesce(Sum(field_name), Value(ZERO), output_field=MONEY)


def amount_error(value: Any, *, allow_zero: bool = False) -> str | None:
    """What is wrong with an amount a person asked for (allowance, bump, budget, cap), or None when it is fine:
    a finite number of dollars, more than $0 (or $0 when `allow_zero`), at most `allocator.money.MAX_USD`."""
    try:
        value = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return "Enter an amount in dollars, like 250 or 99.50."
    if not value.is_finite():
        return "Enter an amount in dollars, like 250 or 99.50."
    if value > MAX_USD:
        return f"Enter at most {usd(MAX_USD)}."
    if value < 0 or (value == 0 and not allow_zero):
        return "Enter an amount of at least $0." if allow_zero else "Enter an amount of more than $0."
    return None


class MoneyField(forms.DecimalField):
    """A bounded USD amount in cents: the one form field for every money input."""

    def __init__(self, *, min_value: Decimal | int | str = ZERO, max_value: Decimal | None = None, **kwargs: Any):
        max_value = MAX_USD if max_value is None else max_value
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault(
            "error_messages",
            {
                "max_value": f"Enter at most {usd(max_value)}.",
                "min_value": f"Enter at least {usd(min_value)}.",
                "max_decimal_places": "Enter dollars and cents (at most 2 decimal places).",
                "max_digits": f"Enter at most {usd(max_value)}.",
                "max_whole_digits": f"Enter at most {usd(max_value)}.",
                "invalid": "Enter an amount in dollars, like 250 or 99.50.",
            },
        )
        super().__init__(min_value=Decimal(str(min_value)), max_value=max_value, **kwargs)
        self.widget.attrs.setdefault("step", "0.01")
        self.widget.attrs.setdefault("inputmode", "decimal")

    def to_python(self, value: Any) -> Decimal | None:
        # Reject NaN, infinity and exponent forms (1e30) with the plain message rather than a digits error.
        if isinstance(value, str) and value.strip().lower().lstrip("+-") in {"nan", "inf", "infinity", "snan"}:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if isinstance(value, str) and "e" in value.lower():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)
