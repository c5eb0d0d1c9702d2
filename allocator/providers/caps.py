"""Value types of provider-side caps: a spend limit held on a scope, a member's increase request, and the three
sentences pages show for which guard holds (allocator.providers.base.Provider.guard_text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class ScopeLimit:
    """A spend limit the provider holds on one scope. `status` is the provider's enforcement word
    ("enforcing", "inactive") or "" when it reports none."""

    amount_usd: Decimal
    status: str = ""
    interval: str = "month"


@dataclass(frozen=True)
class IncreaseRequest:
    """A member's request to the provider for a higher spend limit (Anthropic)."""

    request_id: str
    requester: str  # email or name, as the provider gives it
    amount_usd: Decimal | None  # what was asked for, if the provider says
    reason: str
    status: str  # "pending", "approved", "denied"
    created_at: datetime | None = None


# The three sentences pages show for "which guard holds" (see Provider.guard_text).
GUARD_PROVIDER = "capped at the provider"
GUARD_PROVIDER_MONTHLY = "capped at the provider monthly; Allocator suspends within about 2 minutes"
GUARD_NEXT_SYNC = "Allocator suspends after the next sync"
