"""Shared setup for the chargeback tests: a pinned clock early in FY2026-Q4 (so FY2026-Q3 has ended and can be
closed), calendar fiscal years, and usage pulled from the OpenAI emulator by the real sync."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from allocator.models import ProviderKind, UsageBucket
from allocator.quarters import Quarter
from allocator.usage.sync import usage_sync
from tests.budget_factories import pinned_clock
from tests.factories import KeyFactory
from tests.usage_helpers import emulator_account

# Early in FY2026-Q4 (calendar fiscal years): Q3 ended two days ago, still inside the sync's 48-hour overlap.
EARLY_Q4 = datetime(2026, 10, 2, 14, 30, tzinfo=UTC)
Q3, Q4 = Quarter(2026, 3), Quarter(2026, 4)
MINI = "gpt-4o-mini-2024-07-18"
LAST_DAY_OF_Q3 = datetime(2026, 9, 30, 10, tzinfo=UTC)
FIRST_DAY_OF_Q4 = datetime(2026, 10, 1, 9, tzinfo=UTC)


@pytest.fixture
def early_q4(settings):
    settings.FISCAL_YEAR_START_MONTH = 1
    with pinned_clock(EARLY_Q4):
        yield


@pytest.fixture
def openai_account(openai_emulator):
    return emulator_account(ProviderKind.OPENAI, openai_emulator)


@pytest.fixture
def keys(openai_account, engineer, project, team):
    """Erin's personal key (build) and the Ranking project's key (run), both on the OpenAI account."""
    return {
        "erin": KeyFactory(account=openai_account, owner_user=engineer, team=team, provider_key_id="key_erin"),
        "ranking": KeyFactory(
            account=openai_account, owner_project=project, owner_user=None, team=team, provider_key_id="key_rank"
        ),
    }


def add_usage(emulator, at: datetime, key: str | None, *, tokens: int = 100_000, requests: int = 10) -> None:
    emulator.add_usage(at, api_key_id=key, model=MINI, project_id="proj_a", input_tokens=tokens,
                       output_tokens=tokens // 5, num_model_requests=requests)  # fmt: skip


def sync(account):
    return usage_sync(account=account, since=datetime(2026, 9, 29, tzinfo=UTC), enforce=False)


def bucket_sum(quarter: Quarter) -> Decimal:
    total = Decimal("0")
    for bucket in UsageBucket.objects.filter(bucket_start__gte=quarter.start_at, bucket_start__lt=quarter.end_at):
        total += bucket.cost_usd
    return total


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def streamed(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(streamed(response).decode())))
