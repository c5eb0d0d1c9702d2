"""Coding-tool data for `bench pages`: two disabled tool accounts (Claude Code usage, Copilot seats) for every person
of the bench organisation, stored through the real store (coding_day_store, coding_seats_store: identities matched
by email, rollups and the coding summaries rebuilt), so the People board's coding table, the person page and the
coding identities page are measured on what a quarter of syncs would leave. Some identities match nobody, as an
admin would find them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from allocator.coding.models import CodingIdentity
from allocator.coding.store import coding_day_store, coding_seats_store
from allocator.models import DailyRollup, ProviderAccount, ProviderKind
from allocator.providers.coding import CodingUsageRow, SeatRow
from allocator.quarters import Quarter

UNMATCHED = 50  # identities no bench person has (listed for an admin to map)
SEAT_PRICE = Decimal("19.00")
MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5")


def _accounts(tag: str) -> tuple[ProviderAccount, ProviderAccount]:
    claude, _ = ProviderAccount.objects.get_or_create(
        name=f"{tag} Claude Code", defaults={"kind": ProviderKind.CLAUDE_CODE, "enabled": False}
    )
    copilot, _ = ProviderAccount.objects.get_or_create(
        name=f"{tag} Copilot",
        defaults={"kind": ProviderKind.COPILOT, "enabled": False, "options": {"organization": tag}},
    )
    return claude, copilot


def _day_rows(day: date, emails: list[str]) -> list[CodingUsageRow]:
    rows = []
    for i, email in enumerate(emails):
        cents = 50 + (i * 7919 % 101) * 40
        rows += [
            CodingUsageRow(day=day, identity=email, email=email, sessions=1 + i % 4, lines_added=40 + i % 300,
                           lines_removed=i % 90, commits=i % 5, pull_requests=i % 3, accepted_suggestions=i % 40),
            CodingUsageRow(day=day, identity=email, email=email, model=MODELS[i % 2], input_tokens=cents * 300,
                           output_tokens=cents * 30, cost_usd=Decimal(cents) / 100, requests=1 + i % 20),
        ]  # fmt: skip
    return rows


def coding_fill(*, tag: str, days_apart: int = 7) -> dict:
    """Replace the bench's coding-tool data: one day every `days_apart` of this quarter up to today, for every
    bench person and UNMATCHED strangers, and this month's Copilot seat for every bench person."""
    coding_delete(tag=tag)
    claude, copilot = _accounts(tag)
    people = list(User.objects.filter(email__startswith=f"{tag}-").order_by("pk").values_list("email", flat=True))
    strangers = [f"{tag}-stranger-{n}@elsewhere.example" for n in range(UNMATCHED)]
    today, quarter = timezone.now().date(), Quarter.current()
    days = [quarter.start + timedelta(days=d) for d in range(0, (today - quarter.start).days + 1, days_apart)]
    for day in days:
        coding_day_store(account=claude, day=day, rows=_day_rows(day, people + strangers))
    seats = [SeatRow(identity=email.split("@")[0], email=email) for email in people]
    coding_seats_store(account=copilot, month=today.replace(day=1), seats=seats, price_usd=SEAT_PRICE)
    return {"coding_days": len(days), "coding_people": len(people), "coding_unmatched": UNMATCHED}


def coding_delete(*, tag: str) -> None:
    """The bench's coding accounts and everything stored for them (identities, days, seats, summaries cascade)."""
    accounts = list(ProviderAccount.objects.filter(name__in=[f"{tag} Claude Code", f"{tag} Copilot"]))
    if not accounts:
        return
    DailyRollup.objects.filter(account__in=accounts).delete()
    CodingIdentity.objects.filter(account__in=accounts).delete()
    for account in accounts:
        account.delete()
