"""`manage.py seed_demo_coding`: demo coding-tool usage (Claude Code and GitHub Copilot) for this and last quarter.

Two demo accounts, disabled (no credential: nothing is pulled from the real APIs), hold generated days stored
through the real store functions, so the person page, the People board, budgets and chargeback show coding
tools on `make run`. Deterministic per person and day; one person's Claude Code email matches nobody (listed
under Coding-tool people for an admin to map). Idempotent: an account that holds usage already is left alone.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from allocator.coding.models import CodingUsage
from allocator.coding.rollups import coding_rollups_recompute
from allocator.coding.store import coding_day_store, coding_seats_store
from allocator.models import ProviderAccount
from allocator.providers.coding import CodingUsageRow, SeatRow
from allocator.quarters import Quarter

CLAUDE_MODELS = (("claude-sonnet-4-5-20250929", 300, 1500), ("claude-haiku-4-5-20251001", 100, 500))
COPILOT_MODELS = ("Claude Sonnet 4", "GPT-5")
SEAT_PRICE = Decimal("19.00")
UNMATCHED = "erin.home@users.noreply.example"


def _people() -> list[User]:
    return list(User.objects.filter(is_active=True, role=User.Role.ENGINEER).order_by("email"))


def _claude_rows(day: date, people: list[User]) -> list[CodingUsageRow]:
    rows: list[CodingUsageRow] = []
    for n, person in enumerate(people):
        rng = random.Random(f"cc:{person.email}:{day}")
        if n % 3 == 2 or day.weekday() >= 5 or rng.random() < 0.25:
            continue  # a third of people do not use it; weekends off
        email = UNMATCHED if n == 0 else person.email
        common = {"day": day, "identity": email, "email": email, "customer_type": "subscription"}
        prs = rng.choice((0, 0, 1, 1, 2))
        rows.append(CodingUsageRow(**common, sessions=rng.randint(1, 6), lines_added=rng.randint(40, 900),
                                   lines_removed=rng.randint(5, 300), commits=rng.randint(0, 5), pull_requests=prs,
                                   accepted_suggestions=rng.randint(5, 60)))  # fmt: skip
        model, cents_low, cents_high = CLAUDE_MODELS[0] if rng.random() < 0.7 else CLAUDE_MODELS[1]
        tokens = rng.randint(20_000, 400_000)
        rows.append(CodingUsageRow(**common, model=model, input_tokens=tokens, output_tokens=tokens // 8,
                                   cache_read_tokens=tokens // 2, cache_creation_tokens=tokens // 20,
                                   cost_usd=Decimal(rng.randint(cents_low, cents_high)) / 100))  # fmt: skip
    return rows


def _copilot_rows(day: date, people: list[User]) -> list[CodingUsageRow]:
    rows: list[CodingUsageRow] = []
    for n, person in enumerate(people):
        rng = random.Random(f"gh:{person.email}:{day}")
        if n % 2 or day.weekday() >= 5:
            continue
        login = person.email.split("@")[0] + "-gh"
        requests = rng.randint(0, 30)
        rows.append(CodingUsageRow(day=day, identity=login, email=person.email, model=rng.choice(COPILOT_MODELS),
                                   requests=requests, cost_usd=Decimal(max(0, requests - 10) * 4) / 100))  # fmt: skip
    return rows


class Command(BaseCommand):
    help = "Generate demo Claude Code and GitHub Copilot usage for this and last quarter."

    def handle(self, *args, **options):
        people = _people()
        today = timezone.now().date()
        first = Quarter.current().previous().start
        days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
        tools = (
            ("Claude Code (demo)", "claude_code", _claude_rows, {}),
            ("GitHub Copilot (demo)", "copilot", _copilot_rows, {"organization": "example", "seat_price_usd": "19.00"}),
        )
        for name, kind, rows_of, options_ in tools:
            account, _ = ProviderAccount.objects.get_or_create(
                name=name,
                defaults={"kind": kind, "enabled": False, "options": options_, "status": ProviderAccount.Status.OK,
                          "status_message": "Demo data: generated, not synced (no credential)."},
            )  # fmt: skip
            if CodingUsage.objects.filter(account=account).exists():
                continue
            with transaction.atomic():
                for day in days:
                    coding_day_store(account=account, day=day, rows=rows_of(day, people), roll_up=False)
                if kind == "copilot":
                    self._seats(account, people, days)
                coding_rollups_recompute(account=account, days=days)
            self.stdout.write(f"Coding tools: {name} has {len(days)} days of demo usage.")

    def _seats(self, account: ProviderAccount, people: list[User], days: list[date]) -> None:
        seats = [
            SeatRow(identity=p.email.split("@")[0] + "-gh", email=p.email, plan="business")
            for n, p in enumerate(people)
            if not n % 2
        ]
        for month in sorted({day.replace(day=1) for day in days}):
            coding_seats_store(account=account, month=month, seats=seats, price_usd=SEAT_PRICE)
