"""Pricing: provider cost first, then a manual price, then genai-prices' table; unknown models flagged at $0."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.models import DailyRollup, ModelPrice, ProviderKind, UsageBucket
from allocator.providers.base import UsageRow
from allocator.usage import pricing
from allocator.usage.pricing import Pricer
from allocator.usage.sync import usage_sync
from tests.conftest import login
from tests.factories import KeyFactory
from tests.usage_helpers import emulator_account, hour

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)


def row(model: str, **tokens) -> UsageRow:
    return UsageRow(bucket_start=NOW, bucket_width="1h", provider_key_id="k", model=model, **tokens)


def test_the_two_checks_from_the_provider_reference():
    openai = Pricer(provider="openai").price(
        row("gpt-4o-mini-2024-07-18", input_tokens=12_000, cached_input_tokens=4_000, output_tokens=3_000)
    )
    assert openai == (Decimal("0.003300"), Decimal("0.003300"), "price_table")
    anthropic = Pricer(provider="anthropic").price(
        row(
            "claude-sonnet-4-20250514",
            input_tokens=1500 + 200 + 500 + 100,
            cached_input_tokens=200,
            cache_write_tokens=600,
            cache_write_1h_tokens=100,
            output_tokens=700,
            requests=None,
        )
    )
    assert anthropic == (Decimal("0.017535"), Decimal("0.017535"), "price_table")


def test_provider_cost_wins_and_simulated_models_price_as_their_real_provider():
    assert Pricer(provider="openrouter").price(row("openai/gpt-4o-mini", cost_usd=Decimal("0.4212345"))) == (
        Decimal("0.421235"),
        Decimal("0.421235"),
        "provider",
    )
    simulated = Pricer(provider="simulated")
    assert simulated.price(row("claude-sonnet-4", input_tokens=1_000_000))[1] == Decimal("3.000000")
    assert simulated.price(row("gpt-4o-mini", output_tokens=1_000_000))[1] == Decimal("0.600000")


def test_unknown_models_cost_nothing_and_are_reported():
    pricer = Pricer(provider="openai")
    assert pricer.price(row("gpt-in-house-finetune", input_tokens=5_000)) == (Decimal("0"), Decimal("0"), "unknown")
    assert pricer.unknown_models == {"gpt-in-house-finetune"}


def test_a_manual_price_overrides_the_table(admin):
    ModelPrice.objects.create(
        provider="openai", model="gpt-4o-mini", input_per_mtok=Decimal("1"), output_per_mtok=Decimal("2"), set_by=admin
    )
    estimate, cost, source = Pricer(provider="openai").price(
        row("gpt-4o-mini", input_tokens=1_000_000, output_tokens=500_000)
    )
    assert (cost, source) == (Decimal("2.000000"), "manual")


def test_the_table_is_asked_once_per_model_not_per_row(monkeypatch):
    calls = []
    real = genai_prices.calc_price

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(genai_prices, "calc_price", counting)
    monkeypatch.setattr(pricing, "_TABLE_CACHE", {})
    pricer = Pricer(provider="openai")
    for n in range(5_000):
        pricer.price(row("gpt-4.1-nano", input_tokens=1_000 + n, output_tokens=n))
    assert len(calls) == 5  # five probes (input, cache read, two cache writes, output), then multiplication


def test_setting_a_price_in_the_admin_reprices_the_zero_priced_buckets(openai_emulator, admin, engineer, team):
    account = emulator_account(ProviderKind.OPENAI, openai_emulator)
    key = KeyFactory(account=account, owner_user=engineer, team=team, provider_key_id="key_a")
    openai_emulator.add_usage(hour(3), api_key_id="key_a", model="acme-private-7b", project_id="p",
                              input_tokens=2_000_000, output_tokens=1_000_000, num_model_requests=3)  # fmt: skip
    run = usage_sync(account=account, since=hour(5))
    assert run.unknown_models == ["acme-private-7b"]
    assert UsageBucket.objects.get().cost_source == "unknown"

    browser = login(admin)
    listing = browser.get(reverse("admin:allocator_modelprice_changelist"))
    add_url = reverse("admin:allocator_modelprice_add") + "?provider=openai&amp;model=acme-private-7b"
    assert b"Priced at $0" in listing.content
    assert add_url.encode() in listing.content  # flagged, with a link that fills the form in
    response = browser.post(
        reverse("admin:allocator_modelprice_add"),
        {
            "provider": "openai",
            "model": "acme-private-7b",
            "input_per_mtok": "0.5",
            "cached_input_per_mtok": "0",
            "cache_write_per_mtok": "0",
            "output_per_mtok": "1.5",
        },
    )
    assert response.status_code == 302
    assert ModelPrice.objects.get().set_by == admin
    bucket = UsageBucket.objects.get()
    assert (bucket.cost_usd, bucket.cost_source) == (Decimal("2.500000"), "manual")
    assert DailyRollup.objects.get(key=key).cost_usd == Decimal("2.500000")
    assert b"Priced at $0" not in browser.get(reverse("admin:allocator_modelprice_changelist")).content


def test_usage_admin_is_read_only(admin, simulated):
    browser = login(admin)
    for name in ("usagebucket", "dailyrollup", "billedcost", "syncrun"):
        assert browser.get(reverse(f"admin:allocator_{name}_changelist")).status_code == 200
        assert browser.get(reverse(f"admin:allocator_{name}_add")).status_code == 403


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.tuples(*[st.integers(0, 10**9)] * 5),
    model=st.sampled_from(["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "claude-sonnet-4", "claude-3-5-haiku"]),
)
def test_integer_pricing_equals_decimal_arithmetic(tokens, model):
    """`cost` works in exact integer pico-dollars; it must agree with plain Decimal arithmetic to the micro-dollar."""
    uncached, cached, long, short, output = tokens
    usage = row(model, input_tokens=uncached + cached + long + short, cached_input_tokens=cached,
                cache_write_tokens=long + short, cache_write_1h_tokens=long, output_tokens=output)  # fmt: skip
    unit = Pricer(provider="simulated").unit_price(model)
    assert unit.pico is not None
    assert unit.cost(usage) == unit.decimal_cost(usage)
    assert unit.cost(usage).as_tuple().exponent == -6
