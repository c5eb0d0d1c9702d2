"""`manage.py seed_demo_cursor`: demo Cursor usage for this quarter (a second quarter doubles its time).

One demo account, disabled (no credential: nothing is pulled from Cursor), holds generated days stored through the
real store function, shaped by the adapter's own mapping (allocator.providers.cursor.PersonDay.rows: per model
tokens, cost and requests, and the day's lines and accepted suggestions), so the person page, the boards, budgets
and chargeback show Cursor on `make run`. Deterministic per person and day; idempotent (an account that holds
usage already is left alone). `seed_demo` runs it.
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
from allocator.coding.store import coding_day_store
from allocator.models import ProviderAccount
from allocator.providers.coding import CodingUsageRow
from allocator.providers.cursor import ModelUsage, PersonDay
from allocator.quarters import Quarter

NAME = "Cursor (demo)"
MODELS = (("claude-4-sonnet", 2, 60), ("gpt-5", 1, 30))  # model, cents per event low / high


def _rows(day: date, people: list[User]) -> list[CodingUsageRow]:
    rows: list[CodingUsageRow] = []
    for n, person in enumerate(people):
        rng = random.Random(f"cursor:{person.email}:{day}")
        if n % 3 != 1 or day.weekday() >= 5 or rng.random() < 0.2:
            continue  # a third of people use Cursor, on weekdays
        found = PersonDay(email=person.email.lower(), day=day, active=True)
        for model, low, high in MODELS:
            events = rng.randint(0, 25)
            tokens = events * rng.randint(2_000, 12_000)
            cents = sum((Decimal(rng.randint(low * 100, high * 100)) / 100 for _ in range(events)), Decimal(0))
            found.models[model] = ModelUsage(input_tokens=tokens, output_tokens=tokens // 10,
                                             cache_read_tokens=tokens // 2, requests=events,
                                             cost_usd=(cents / 100).quantize(Decimal("0.000001")))  # fmt: skip
        found.outcomes = {
            "lines_added": rng.randint(50, 1500),
            "lines_deleted": rng.randint(10, 400),
            "accepted_suggestions": rng.randint(2, 40),
            "tabs_accepted": rng.randint(20, 300),
        }
        rows += found.rows()
    return rows


class Command(BaseCommand):
    help = "Generate demo Cursor usage for this quarter."

    def handle(self, *args, **options):
        people = list(User.objects.filter(is_active=True, role=User.Role.ENGINEER).order_by("email"))
        today = timezone.now().date()
        first = Quarter.current().start
        days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
        account, _ = ProviderAccount.objects.get_or_create(
            name=NAME,
            defaults={"kind": "cursor", "enabled": False, "options": {"budget_policy": "count"},
                      "status": ProviderAccount.Status.OK,
                      "status_message": "Demo data: generated, not synced (no credential)."},
        )  # fmt: skip
        if CodingUsage.objects.filter(account=account).exists():
            return
        with transaction.atomic():
            for day in days:
                coding_day_store(account=account, day=day, rows=_rows(day, people), roll_up=False)
            coding_rollups_recompute(account=account, days=days)
        self.stdout.write(f"Coding tools: {NAME} has {len(days)} days of demo usage.")
