"""Provider rate limits and per-minute demand: the value types adapters return, and the count rule.

Dimensions are Allocator's words for what a limiter counts; each adapter maps its provider's limiter names onto
them (`openai.RATE_LIMIT_FIELDS`, `anthropic.LIMITER_TYPES`). The per-minute dimensions are compared with the busiest
minute of a day, the per-day ones with the sum of the day's minutes (UTC days).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

REQUESTS_PER_MINUTE = "requests_per_minute"
TOKENS_PER_MINUTE = "tokens_per_minute"  # input and output together (OpenAI)
INPUT_TOKENS_PER_MINUTE = "input_tokens_per_minute"
OUTPUT_TOKENS_PER_MINUTE = "output_tokens_per_minute"
REQUESTS_PER_DAY = "requests_per_day"
BATCH_INPUT_TOKENS_PER_DAY = "batch_input_tokens_per_day"

DIMENSIONS = (
    (REQUESTS_PER_MINUTE, "requests per minute"),
    (TOKENS_PER_MINUTE, "tokens per minute"),
    (INPUT_TOKENS_PER_MINUTE, "input tokens per minute"),
    (OUTPUT_TOKENS_PER_MINUTE, "output tokens per minute"),
    (REQUESTS_PER_DAY, "requests per day"),
    (BATCH_INPUT_TOKENS_PER_DAY, "batch input tokens per day"),
)
MINUTE_DIMENSIONS = (REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE, INPUT_TOKENS_PER_MINUTE, OUTPUT_TOKENS_PER_MINUTE)
DAY_DIMENSIONS = (REQUESTS_PER_DAY, BATCH_INPUT_TOKENS_PER_DAY)

ORGANIZATION = ""  # the scope of an organization-wide limit (and of an account's whole demand)


@dataclass(frozen=True)
class RateLimit:
    """One limiter as the provider reports it: `value` is what applies to `scope` (an OpenAI project, an Anthropic
    workspace, or ORGANIZATION), `org_limit` the organization's ceiling where the provider reports it."""

    model: str
    dimension: str
    value: int
    scope: str = ORGANIZATION
    org_limit: int | None = None


class MinuteCounts(NamedTuple):
    """What one minute of usage counts against each limiter (None: the provider does not report it). The per-day
    limiters count the day's sum of these minutes."""

    requests: int | None
    tokens: int
    input_tokens: int
    output_tokens: int
    batch_input_tokens: int | None = None  # input tokens of Batch API requests (OpenAI's batch tokens per day)

    def by_dimension(self) -> tuple[tuple[str, int | None], ...]:
        """(dimension, count) of every dimension: the per-minute ones, then the per-day ones."""
        return (
            (REQUESTS_PER_MINUTE, self.requests),
            (TOKENS_PER_MINUTE, self.tokens),
            (INPUT_TOKENS_PER_MINUTE, self.input_tokens),
            (OUTPUT_TOKENS_PER_MINUTE, self.output_tokens),
            (REQUESTS_PER_DAY, self.requests),
            (BATCH_INPUT_TOKENS_PER_DAY, self.batch_input_tokens),
        )


class CapacityReads:
    """The capacity part of the provider interface (mixed into base.Provider): limits and minute usage.

    Adapters override what `capabilities.rate_limits` / `capabilities.minute_usage` declare."""

    def rate_limits(self, *, scope_ids: tuple[str, ...] = ()) -> list[RateLimit]:
        """Every limiter of the organization and of the given scopes (projects, workspaces), as configured now."""
        from allocator.providers.base import ProviderError

        raise ProviderError(f"{self.kind} does not report rate limits", permanent=True)  # type: ignore[attr-defined]

    def minute_usage(self, *, start, end):
        """Yield usage in 1-minute buckets for [start, end) one page at a time, per model and scope (no key split):
        `UsageRow`s with `bucket_width="1m"` and the scope in `dimensions["scope"]`."""
        from allocator.providers.base import ProviderError

        raise ProviderError(f"{self.kind} has no per-minute usage", permanent=True)  # type: ignore[attr-defined]

    def limit_counts(self, row) -> MinuteCounts:
        """What a minute row counts against the limiters. The default is OpenAI's rule: every input token (cached
        ones too) and every output token seen; batch tokens per day count the input tokens of rows marked
        `dimensions["batch"]`. Output limiters reserve `max_tokens` at request start, which usage does not show:
        output seen is a lower bound."""
        return MinuteCounts(
            requests=row.requests,
            tokens=row.input_tokens + row.output_tokens,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            batch_input_tokens=row.input_tokens if row.dimensions.get("batch") is True else 0,
        )
