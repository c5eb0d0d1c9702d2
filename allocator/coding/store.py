"""Storing coding-tool usage: a day at a time, replacing what was stored for it; seats a month at a time; people
matched by email; identities an admin maps by hand.

Every write ends with the account's rollups of the days it touched rebuilt (allocator/coding/rollups.py), so
budgets, boards and chargeback follow in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import AuditEvent, User
from allocator.coding.models import CodingIdentity, CodingSeat, CodingUsage
from allocator.coding.rollups import coding_rollups_recompute
from allocator.models import ProviderAccount
from allocator.money import MAX_USD
from allocator.providers.coding import CodingUsageRow, SeatRow

# Summed when one identity, model and customer type come twice in a day (the report may split a day by terminal).
_COUNTS = ("requests", "sessions", "lines_added", "lines_removed", "commits", "pull_requests", "accepted_suggestions")
_SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "cost_usd")


def _merged(rows: Iterable[CodingUsageRow]) -> dict[tuple, CodingUsageRow]:
    merged: dict[tuple, CodingUsageRow] = {}
    for row in rows:
        identity_key = (row.identity_kind, row.identity.strip()[:255], row.model, row.customer_type[:16])
        if (seen := merged.get(identity_key)) is None:
            merged[identity_key] = CodingUsageRow(**{f.name: getattr(row, f.name) for f in fields(row)})
            continue
        for name in _SUMS:
            setattr(seen, name, getattr(seen, name) + getattr(row, name))
        for name in _COUNTS:
            a, b = getattr(seen, name), getattr(row, name)
            setattr(seen, name, None if a is None and b is None else (a or 0) + (b or 0))
        seen.email = seen.email or row.email
    return merged


def identities_resolve(*, account: ProviderAccount, seen: dict[tuple[str, str], str], day: date) -> dict:
    """The identities of `seen` ((kind, external id) → email), created where new and matched to people by email
    (case-insensitive); first and last seen moved to include `day`. Returns (kind, external id) → identity."""
    stored = {
        (i.kind, i.external_id): i
        for i in CodingIdentity.objects.filter(account=account, external_id__in={ext for _, ext in seen})
    }
    emails = {email.lower() for email in seen.values() if email}
    people = (
        {u.email.lower(): u for u in User.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=emails)}
        if emails
        else {}
    )
    known = [i.pk for i in stored.values()]
    # Moving first and last seen is two statements for all of them (a sync stores every day of its window).
    CodingIdentity.objects.filter(pk__in=known, last_seen__lt=day).update(last_seen=day)
    CodingIdentity.objects.filter(pk__in=known, first_seen__gt=day).update(first_seen=day)
    for (kind, external), email in seen.items():
        identity = stored.get((kind, external))
        if identity is None:
            person = people.get(email.lower()) if email else None
            identity = CodingIdentity.objects.create(
                account=account, kind=kind, external_id=external, email=email[:254], user=person,
                matched_by=CodingIdentity.MatchedBy.EMAIL if person else "", first_seen=day, last_seen=day,
            )  # fmt: skip
            stored[(kind, external)] = identity
            continue
        identity.first_seen, identity.last_seen = min(identity.first_seen, day), max(identity.last_seen, day)
        if identity.user_id is None and email and (person := people.get(email.lower())) is not None:
            identity.user, identity.matched_by, identity.email = person, CodingIdentity.MatchedBy.EMAIL, email[:254]
            identity.save(update_fields=["user", "matched_by", "email"])
    return stored


@transaction.atomic
def coding_day_store(
    *, account: ProviderAccount, day: date, rows: Iterable[CodingUsageRow], roll_up: bool = True
) -> int:
    """Store one UTC day of a coding tool's usage for `account`, replacing every row stored for that day (a re-sync
    replaces, never adds; a day the tool now reports empty is emptied). Identities are created and matched by
    email on the way; rows of unmatched identities are kept (unattributed until an admin maps them). The day's
    rollups are rebuilt (unless `roll_up` is False: the caller rolls up a run of days at once). Returns the number
    of rows stored."""
    merged = _merged(row for row in rows if row.day == day)
    for row in merged.values():
        if row.cost_usd < 0 or row.cost_usd > MAX_USD:
            raise ValidationError(f"A cost of {row.cost_usd} for {row.identity} on {day} is out of range.")
    seen: dict[tuple[str, str], str] = {}
    for kind, external, _, _ in merged:
        seen.setdefault((kind, external), "")
    for (kind, external, _, _), row in merged.items():
        seen[(kind, external)] = seen[(kind, external)] or row.email
    identities = identities_resolve(account=account, seen=seen, day=day) if seen else {}
    CodingUsage.objects.filter(account=account, day=day).delete()
    now = timezone.now()
    CodingUsage.objects.bulk_create(
        CodingUsage(
            account=account,
            identity=(identity := identities[(kind, external)]),
            user_id=identity.user_id,
            day=day,
            model=model[:128],
            customer_type=customer_type,
            synced_at=now,
            **{name: getattr(row, name) for name in ("counted_via_key", *_SUMS, *_COUNTS)},
        )
        for (kind, external, model, customer_type), row in merged.items()
    )
    if roll_up:
        coding_rollups_recompute(account=account, days=[day])
    return len(merged)


@transaction.atomic
def coding_seats_store(*, account: ProviderAccount, month: date, seats: Iterable[SeatRow], price_usd) -> int:
    """Store the seats paid for in `month` (its first day), replacing the month's stored seats. A seat without a
    price of its own costs `price_usd` (the account's fixed monthly price; None: zero). Rollups of the month's
    first day (where seat spend is booked) are rebuilt. Returns the number of seats."""
    month = month.replace(day=1)
    by_identity = {seat.identity.strip()[:255]: seat for seat in seats}
    seen = {(CodingIdentity.Kind.PERSON, ext): seat.email for ext, seat in by_identity.items()}
    identities = identities_resolve(account=account, seen=seen, day=month) if seen else {}
    CodingSeat.objects.filter(account=account, month=month).delete()
    now = timezone.now()
    CodingSeat.objects.bulk_create(
        CodingSeat(
            account=account,
            identity=(identity := identities[(CodingIdentity.Kind.PERSON, ext)]),
            user_id=identity.user_id,
            month=month,
            plan=seat.plan,
            cost_usd=min(seat.cost_usd if seat.cost_usd is not None else (price_usd or 0), MAX_USD),
            assigned_at=seat.assigned_at,
            last_activity_at=seat.last_activity_at,
            synced_at=now,
        )
        for ext, seat in by_identity.items()
    )
    coding_rollups_recompute(account=account, days=[month])
    return len(by_identity)


@transaction.atomic
def coding_identity_map(*, identity: CodingIdentity, user: User | None, by: User) -> CodingIdentity:
    """Map an identity to a person by hand (None: unmap). Its stored usage and seats move with it, and the
    rollups of every day they cover are rebuilt, so budgets and boards re-attribute the spend."""
    identity = CodingIdentity.objects.select_for_update().get(pk=identity.pk)
    identity.user = user
    identity.matched_by = CodingIdentity.MatchedBy.ADMIN if user else ""
    identity.mapped_by, identity.mapped_at = by, timezone.now()
    identity.save(update_fields=["user", "matched_by", "mapped_by", "mapped_at"])
    usage = CodingUsage.objects.filter(identity=identity)
    seats = CodingSeat.objects.filter(identity=identity)
    days = set(seats.values_list("month", flat=True)) | set(usage.values_list("day", flat=True).distinct())
    usage.update(user=user)
    seats.update(user=user)
    coding_rollups_recompute(account=identity.account, days=days)
    AuditEvent.record(
        "coding_identity.mapped", actor=by, target=identity.account, identity=identity.external_id,
        person=user.email if user else None,
    )  # fmt: skip
    return identity


@transaction.atomic
def coding_account_reroll(*, account: ProviderAccount) -> int:
    """Rebuild the rollups of every day the account holds (after its budget policy changed: counted spend joins or
    leaves the budgets at once, not only the days the next sync pulls again). Returns the number of days."""
    days = set(CodingUsage.objects.filter(account=account).values_list("day", flat=True).distinct())
    days |= set(CodingSeat.objects.filter(account=account).values_list("month", flat=True).distinct())
    coding_rollups_recompute(account=account, days=days)
    return len(days)
