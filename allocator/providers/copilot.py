"""GitHub Copilot connector: the organization's premium-request billing usage and its Copilot seat list.

- Usage: `GET /organizations/{org}/settings/billing/premium_request/usage?year=&month=&day=&user=` answers one
  user's premium requests of one day as `usageItems` (`product`, `sku`, `model`, `unitType`, `pricePerUnit`,
  `grossQuantity`, `grossAmount`, `discountQuantity`, `discountAmount`, `netQuantity`, `netAmount`). The net amount
  is what the organization pays (requests inside the plan's allowance are discounted to zero); requests are the
  gross quantity. It is not paged; it is asked once per seat holder and day.
- Seats: `GET /orgs/{org}/copilot/billing/seats` (`per_page` up to 100, `Link: <…>; rel="next"` pagination),
  `{"total_seats", "seats": [{"assignee": {"login", "email"?}, "plan_type", "created_at", "last_activity_at"}]}`.
  GitHub lists no price per seat: the account's fixed monthly seat price (option) applies.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from allocator.providers.base import ERROR_TEXT_LIMIT, Capabilities, OptionSpec, ProviderError, parse_time, redact
from allocator.providers.coding import BUDGET_POLICY_OPTION, CodingToolProvider, CodingUsageRow, SeatRow

API_VERSION = "2022-11-28"
SEATS_PAGE = 100
MAX_SEAT_PAGES = 1000


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("amount is not a number")
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0:
        raise ValueError("amount out of range")
    return amount


def _quantity(value: Any) -> int:
    amount = _amount(0 if value is None else value)
    return int(amount.to_integral_value())


def _next_link(header: str) -> str | None:
    """The rel="next" target of a Link header, as a path with its query (None on the last page)."""
    for part in header.split(","):
        target, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            url = urlsplit(target.strip().strip("<>"))
            return f"{url.path}?{url.query}" if url.query else url.path
    return None


def _may_have_used(seat: SeatRow, day: date) -> bool:
    """False when the seat was assigned after `day` or last active before it."""
    if seat.assigned_at is not None and seat.assigned_at.astimezone(UTC).date() > day:
        return False
    return seat.last_activity_at is None or seat.last_activity_at.astimezone(UTC).date() >= day


class CopilotProvider(CodingToolProvider):
    kind = "copilot"
    display_name = "GitHub Copilot"
    default_base_url = "https://api.github.com"
    capabilities = Capabilities(coding_usage=True, seats=True, request_counts=True)
    cost_is_billed = True  # netAmount is what the organization is charged
    credential_label = "GitHub token"
    credential_help = (
        "A fine-grained token of an organization owner or billing manager with the organization permissions "
        "Administration (read) and GitHub Copilot Business (read)."
    )
    option_specs = (
        OptionSpec(name="organization", label="Organization", help="The GitHub organization's login.", required=True),
        OptionSpec(
            name="seat_price_usd",
            label="Seat price (USD a month)",
            help="What one Copilot seat costs a month (Business $19, Enterprise $39); GitHub does not list it.",
            kind="money",
        ),
        BUDGET_POLICY_OPTION,
    )

    def auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.credential}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    def error_message(self, response) -> str:
        try:
            message = str(response.json()["message"])
        except (ValueError, KeyError, TypeError):
            message = response.text
        return redact(message, self.credential)[:ERROR_TEXT_LIMIT]

    @property
    def organization(self) -> str:
        org = str(self.options.get("organization") or "").strip()
        if not org:
            raise ProviderError("Set the GitHub organization of this account.", permanent=True)
        return org

    def check_connection(self) -> str:
        body = self.http.request("GET", f"/orgs/{self.organization}/copilot/billing/seats", params={"per_page": 1})
        total = body.get("total_seats") if isinstance(body, dict) else None
        return (
            f"Connected: {total if total is not None else 'an unknown number of'} Copilot seats in {self.organization}."
        )

    # --- seats --------------------------------------------------------------------------------------
    _seats: list[SeatRow] | None = None  # the seat list this adapter read last (a sync reads it once)

    def list_seats(self) -> list[SeatRow]:
        seats: list[SeatRow] = []
        per_page = int(self.options.get("page_size", SEATS_PAGE))
        path: str | None = f"/orgs/{self.organization}/copilot/billing/seats?per_page={per_page}"
        for _ in range(MAX_SEAT_PAGES):
            if path is None:
                self._seats = seats
                return seats
            body = self.http.request("GET", path)
            if not isinstance(body, dict) or not isinstance(body.get("seats"), list):
                raise ProviderError("GitHub Copilot sent a malformed seat list (no seats list)")
            try:
                seats += [self._seat(item) for item in body["seats"]]
            except (AttributeError, KeyError, TypeError, ValueError) as e:
                raise ProviderError("GitHub Copilot sent a malformed seat") from e
            path = _next_link(self.http.last_headers.get("link", ""))
        raise ProviderError("GitHub Copilot's seat list did not end", permanent=True)

    def _seat(self, item: dict[str, Any]) -> SeatRow:
        assignee = item["assignee"]
        return SeatRow(
            identity=str(assignee["login"]),
            email=str(assignee.get("email") or ""),
            plan=str(item.get("plan_type") or "")[:64],
            assigned_at=parse_time(item["created_at"]) if item.get("created_at") else None,
            last_activity_at=parse_time(item["last_activity_at"]) if item.get("last_activity_at") else None,
        )

    # --- usage --------------------------------------------------------------------------------------
    def pull_coding_day(self, *, day: date) -> Iterator[list[CodingUsageRow]]:
        """One page per seat holder: their premium requests of `day`, one row per model."""
        seats = self._seats if self._seats is not None else self.list_seats()
        path = f"/organizations/{self.organization}/settings/billing/premium_request/usage"
        for seat in seats:
            if not _may_have_used(seat, day):
                continue  # the report is asked per person and day: skip whom the seat list shows idle that day
            params = {"year": day.year, "month": day.month, "day": day.day, "user": seat.identity}
            body = self.http.request("GET", path, params=params)
            try:
                rows = self._usage_rows(body, day=day, seat=seat)
            except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as e:
                raise ProviderError("GitHub Copilot sent a malformed premium request usage report") from e
            if rows:
                yield rows

    def _usage_rows(self, body: dict[str, Any], *, day: date, seat: SeatRow) -> list[CodingUsageRow]:
        per_model: dict[str, CodingUsageRow] = {}
        for item in body["usageItems"]:
            model = str(item.get("model") or item.get("sku") or "premium requests")[:128]
            row = per_model.setdefault(
                model,
                CodingUsageRow(day=day, identity=seat.identity, email=seat.email, model=model, requests=0),
            )
            row.requests += _quantity(item.get("grossQuantity"))
            row.cost_usd += _amount(item.get("netAmount", 0))
        return list(per_model.values())
