"""The simulated provider's rate limits and per-minute demand, for the capacity pages of the demo.

Its limits are configurable: the account option `rate_limits` (a list of {"model", "dimension", "value"}), else
DEMO_LIMITS. Its demand is per model for the whole account (not per key): a round-the-clock rhythm, minute-to-minute
noise, and per model a growth rate. In the demo one model (gpt-4.1) doubles every 21 days and peaks at about 85 %
of its tokens-per-minute limit on `growth_anchor` (an ISO date option; seed_demo sets it to the day it ran), so the
capacity page shows it near the limit with a crossover date a few days out; the others hold steady. Every minute's
number comes from a hash of (model, minute), so re-pulls agree.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from django.utils import timezone

from allocator.providers import capacity
from allocator.providers.base import UsageRow
from allocator.providers.simulated.usage import SERVICE_HOURS

PAGE_MINUTES = 1440

DEMO_LIMITS = (
    ("gpt-4.1", capacity.TOKENS_PER_MINUTE, 2_000_000),
    ("gpt-4.1", capacity.REQUESTS_PER_MINUTE, 5_000),
    ("claude-sonnet-4", capacity.INPUT_TOKENS_PER_MINUTE, 800_000),
    ("claude-sonnet-4", capacity.OUTPUT_TOKENS_PER_MINUTE, 160_000),
    ("claude-sonnet-4", capacity.REQUESTS_PER_MINUTE, 4_000),
)

# model: (tokens a minute at the busiest hour on the anchor day, doubling time in days or None, tokens per request,
# output share, cached-input share)
DEMO_DEMAND: dict[str, tuple[float, float | None, int, float, float]] = {
    "gpt-4.1": (1_500_000, 21.0, 1_800, 0.2, 0.1),
    "claude-sonnet-4": (300_000, None, 2_400, 0.18, 0.35),
}
NOISE = 0.15  # each minute is within ±15 % of its hour's rate
MASK = 2**64 - 1


def simulated_rate_limits(options: dict[str, Any]) -> list[capacity.RateLimit]:
    configured = options.get("rate_limits")
    entries = (
        [(item["model"], item["dimension"], int(item["value"])) for item in configured]
        if isinstance(configured, list)
        else DEMO_LIMITS
    )
    return [capacity.RateLimit(model=model, dimension=dim, value=value) for model, dim, value in entries]


def _anchor(options: dict[str, Any]) -> date:
    raw = options.get("growth_anchor")
    return date.fromisoformat(raw) if raw else timezone.now().date()


def _hour_factor(seconds: int) -> float:
    """SERVICE_HOURS at a moment of the day (seconds since midnight UTC), interpolated so minute peaks have no steps."""
    hour = seconds / 3600
    low = SERVICE_HOURS[int(hour) % 24]
    high = SERVICE_HOURS[(int(hour) + 1) % 24]
    return low + (high - low) * (hour - int(hour))


def _salt(model: str) -> int:
    return int.from_bytes(hashlib.blake2b(model.encode(), digest_size=8).digest())


def _noise(salt: int, timestamp: int) -> float:
    """1 ± NOISE from a stable mix of the model and the minute (splitmix64's finaliser: cheap, well spread)."""
    x = (timestamp // 60 * 0x9E3779B97F4A7C15 + salt) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return 1 - NOISE + 2 * NOISE * ((x ^ (x >> 31)) / 2**64)


def simulated_minute_pages(*, options: dict[str, Any], start: datetime, end: datetime) -> Iterator[list[UsageRow]]:
    """Minute rows for [start, end), at most a day a page; nothing after now (the minute under way included)."""
    anchor = int(datetime.combine(_anchor(options), datetime.min.time(), tzinfo=UTC).timestamp())
    first = int(start.timestamp()) // 60 * 60
    last = int(min(end, timezone.now()).timestamp()) // 60 * 60
    scope = {"scope": capacity.ORGANIZATION}  # shared by every row: read, never changed
    demand = [(model, _salt(model), *shape) for model, shape in DEMO_DEMAND.items()]
    for page_start in range(first, last, PAGE_MINUTES * 60):
        page = []
        for timestamp in range(page_start, min(last, page_start + PAGE_MINUTES * 60), 60):
            moment = datetime.fromtimestamp(timestamp, tz=UTC)
            rhythm = _hour_factor(timestamp % 86400)
            days = (timestamp - anchor) / 86400
            for model, salt, base, doubling, per_request, output_share, cached_share in demand:
                growth = 2 ** (days / doubling) if doubling else 1.0
                tokens = int(base * growth * rhythm * _noise(salt, timestamp))
                output = int(tokens * output_share)
                total_input = tokens - output
                page.append(
                    UsageRow(
                        bucket_start=moment,
                        bucket_width="1m",
                        provider_key_id=None,
                        model=model,
                        input_tokens=total_input,
                        cached_input_tokens=int(total_input * cached_share),
                        output_tokens=output,
                        requests=max(1, math.ceil(tokens / per_request)),
                        dimensions=scope,
                    )
                )
        yield page
