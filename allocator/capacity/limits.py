"""Supply: reading each account's rate limits from its provider (daily), and limits recorded by hand.

The provider's limiters replace the account's provider rows on every read (a limiter no longer reported goes);
manual rows stay until an admin removes them, and win over the provider's for the same limiter."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from allocator.capacity.models import MAX_LIMIT, CapacityRead, RateLimitRecord, ThrottleHint
from allocator.models import Key, ProviderAccount
from allocator.providers import capacity
from allocator.providers.base import ERROR_TEXT_LIMIT, ProviderError, redact


class LimitInputError(ValueError):
    """A limit typed by hand that cannot be stored (the message says why)."""


def _scope_ids(account: ProviderAccount, field: str) -> tuple[str, ...]:
    """The projects or workspaces the account's keys live in: where its limits apply."""
    if not field:
        return ()
    values = Key.objects.filter(account=account).values_list("provider_data", flat=True)
    return tuple(sorted({str(data[field]) for data in values if isinstance(data, dict) and data.get(field)}))


def throttles_record(*, account: ProviderAccount, count: int, now: datetime) -> None:
    """Add `count` 429 answers seen today by our own calls to the account's hint of the day."""
    if not count:
        return
    with transaction.atomic():
        hint, _ = ThrottleHint.objects.select_for_update().get_or_create(
            account=account, day=now.date(), defaults={"last_seen_at": now}
        )
        hint.count += count
        hint.last_seen_at = now
        hint.save(update_fields=["count", "last_seen_at"])


def _read_state(account: ProviderAccount, **fields) -> None:
    CapacityRead.objects.update_or_create(account=account, defaults=fields)


def limits_refresh(*, account: ProviderAccount, now: datetime | None = None) -> int:
    """Read the account's limiters from the provider and store them; return how many. A failure is kept on the
    account's CapacityRead (redacted, shortened) and raised again for the task's retry."""
    now = now or timezone.now()
    adapter = account.adapter()
    if not adapter.capabilities.rate_limits:
        return 0
    try:
        limits = adapter.rate_limits(scope_ids=_scope_ids(account, adapter.scope_container_field))
    except ProviderError as error:
        _read_state(account, limits_error=redact(str(error), account.credential)[:ERROR_TEXT_LIMIT])
        throttles_record(account=account, count=adapter.http.throttled, now=now)
        raise
    rows = {
        (limit.scope[:80], limit.model[:120], limit.dimension): limit
        for limit in limits
        if 0 < limit.value <= MAX_LIMIT and limit.dimension in dict(capacity.DIMENSIONS)
    }
    with transaction.atomic():
        # Updated in place, so a limiter keeps its row (its page, its alerts) from one read to the next.
        kept = []
        for (scope, model, dimension), limit in rows.items():
            org_limit = limit.org_limit if limit.org_limit and limit.org_limit <= MAX_LIMIT else None
            record, _ = RateLimitRecord.objects.update_or_create(
                account=account,
                scope=scope,
                model=model,
                dimension=dimension,
                source=RateLimitRecord.Source.PROVIDER,
                defaults={"value": limit.value, "org_limit": org_limit, "read_at": now},
            )
            kept.append(record.pk)
        stale = RateLimitRecord.objects.filter(account=account, source=RateLimitRecord.Source.PROVIDER)
        stale.exclude(pk__in=kept).delete()
        _read_state(account, limits_read_at=now, limits_error="")
    throttles_record(account=account, count=adapter.http.throttled, now=now)
    return len(rows)


@transaction.atomic
def limit_record(
    *,
    account: ProviderAccount,
    model: str,
    dimension: str,
    value: int,
    note: str,
    by: User,
    scope: str = "",
) -> RateLimitRecord:
    """Record (or change) a limit by hand, with a note: it wins over the provider's for the same limiter."""
    if dimension not in dict(capacity.DIMENSIONS):
        raise LimitInputError(f"Unknown limit dimension {dimension!r}.")
    if not model.strip() or len(model) > 120:
        raise LimitInputError("Name the model (at most 120 characters).")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LIMIT:
        raise LimitInputError(f"A limit is a whole number from 1 to {MAX_LIMIT:,}.")
    if len(note) > 200 or len(scope) > 80:
        raise LimitInputError("The note is at most 200 characters, the scope at most 80.")
    record, created = RateLimitRecord.objects.update_or_create(
        account=account,
        scope=scope.strip(),
        model=model.strip(),
        dimension=dimension,
        source=RateLimitRecord.Source.MANUAL,
        defaults={"value": value, "note": note.strip(), "read_at": timezone.now(), "recorded_by": by},
    )
    AuditEvent.record(
        "capacity.limit_recorded",
        actor=by,
        target=record,
        account=account.name,
        model=record.model,
        dimension=dimension,
        value=value,
        new=created,
    )
    return record


@transaction.atomic
def limit_remove(*, record: RateLimitRecord, by: User) -> None:
    """Remove a limit recorded by hand (the provider's rows come back at the next read)."""
    if record.source != RateLimitRecord.Source.MANUAL:
        raise LimitInputError("Limits read from the provider change at the provider; only manual ones are removed.")
    AuditEvent.record(
        "capacity.limit_removed", actor=by, target=record.account, model=record.model, dimension=record.dimension
    )
    record.delete()


def effective_limits(records) -> list[RateLimitRecord]:
    """One record per limiter: the manual one where there is one, else the provider's."""
    chosen: dict[tuple, RateLimitRecord] = {}
    for record in records:
        current = chosen.get(record.identity)
        if current is None or record.source == RateLimitRecord.Source.MANUAL:
            chosen[record.identity] = record
    return list(chosen.values())
