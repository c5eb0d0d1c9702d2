"""Serializer parts every resource shares: unknown fields refused, money bounded and as decimal strings, quarters."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import BadRequest
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from allocator.money import MAX_USD
from allocator.quarters import Quarter


class StrictSerializer(serializers.Serializer):
    """Input serializer that answers 400 naming any field it does not know (a typo is never silently ignored)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def money(*, min_value: str = "0.01", **kwargs: Any) -> serializers.DecimalField:
    """A USD amount typed by a person: at most $10,000,000, cents, sent and answered as a decimal string."""
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal(min_value),
        max_value=MAX_USD,
        coerce_to_string=True,
        **kwargs,
    )


def money_out(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, **kwargs)


def cost_out(**kwargs: Any) -> serializers.DecimalField:
    """Usage cost keeps micro-dollars (a bucket can cost $0.000150)."""
    return serializers.DecimalField(max_digits=20, decimal_places=6, read_only=True, **kwargs)


class QuarterField(serializers.CharField):
    """`FY2027-Q1`; empty means the current quarter."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 10)
        kwargs.setdefault("help_text", "Fiscal quarter like FY2027-Q1; the current one when left out.")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Quarter:
        try:
            return Quarter.from_param(super().to_internal_value(data))
        except BadRequest as error:
            raise serializers.ValidationError(str(error)) from error


QUARTER_PARAM = OpenApiParameter(
    "quarter", str, description="Fiscal quarter like FY2027-Q1; the current one when left out."
)


def quarter_param(request: Any) -> Quarter:
    """The `?quarter=` of a read (400 in the error shape when it is not a quarter)."""
    return Quarter.from_param(request.query_params.get("quarter"))
