"""Celery entry points for keys and usage syncs: they take ids, load rows and call services."""

import logging
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from allocator import keys as key_services
from allocator.capacity.tasks import capacity_demand, capacity_demand_all, capacity_limits, capacity_limits_all  # noqa: F401
from allocator.providers.base import ProviderError

logger = logging.getLogger(__name__)


@shared_task
def heartbeat() -> str:
    """Proves the worker and beat are wired: logs and returns the time."""
    now = timezone.now().isoformat()
    logger.info("heartbeat %s", now)
    return now


@shared_task(bind=True, max_retries=key_services.MAX_MINT_ATTEMPTS - 1, acks_late=True, time_limit=300)
def mint_key(self, key_request_id: int) -> int | None:
    final = self.request.retries >= self.max_retries
    try:
        key = key_services.key_mint(key_request_id=key_request_id, final_attempt=final)
    except ProviderError as error:
        # Exponential backoff, or the provider's Retry-After when it gave one.
        countdown = error.retry_after if error.retry_after is not None else 5 * 2**self.request.retries
        raise self.retry(exc=error, countdown=countdown) from error
    return key.pk if key else None


@shared_task
def sweep_unminted_requests() -> int:
    """Beat: send the mint again for approved requests that never got a key (the broker was down at approval).
    Duplicates are harmless: the mint claims the request under a row lock and a request has at most one key."""
    from allocator.key_requests import key_requests_unminted

    sent = 0
    for key_request_id in key_requests_unminted():
        if not key_services.key_mint_send(key_request_id=key_request_id):
            break  # still down: the next sweep tries again
        sent += 1
    return sent


@shared_task
def expire_key_secrets() -> int:
    return key_services.key_secrets_expire()


# --- usage sync ---------------------------------------------------------------------------------------

SYNC_TIME_LIMIT = 30 * 60
SYNC_MAX_RETRIES = 5
BACKFILL_CHUNK_DAYS = 7  # a window longer than this is pulled as a chain of chunk tasks


def _parse_moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@shared_task
def sync_all_accounts(kinds: list[str] | None = None) -> int:
    """Beat: one `sync_account` per enabled account; a long window (first sync, worker down for days) becomes
    a chain of whole-day chunks, each its own task, so any worker takes the next one and a failure or time
    limit costs one chunk. Chunks of one account run in order: they share the account's sync lock and each
    moves `synced_until` on. Accounts whose credentials were rejected wait for an admin to fix them. `kinds`
    limits it to some providers (beat syncs the local simulated provider every two minutes, so demo spend
    visibly moves)."""
    from celery import chain

    from allocator.models import ProviderAccount
    from allocator.usage import sync

    accounts = ProviderAccount.objects.filter(enabled=True).exclude(status=ProviderAccount.Status.CREDENTIALS_INVALID)
    if kinds:
        accounts = accounts.filter(kind__in=kinds)
    busy = sync.accounts_syncing()
    sent = 0
    for account in accounts:
        capabilities = account.capabilities
        if not (capabilities.usage or capabilities.coding_usage) or account.pk in busy:
            continue  # a long back-fill still running is not started twice
        start, end = sync.sync_window(account=account)
        chunks = sync.backfill_chunks(start=start, end=end, days=BACKFILL_CHUNK_DAYS)
        if len(chunks) == 1:
            sync_account.delay(account.pk, "beat")
        else:
            chain(
                sync_account.si(
                    account.pk, "backfill", since=first.isoformat(), until=last.isoformat() if last else None
                )
                for first, last in chunks
            ).delay()
        sent += 1
    return sent


@shared_task(
    bind=True,
    max_retries=SYNC_MAX_RETRIES,
    acks_late=True,
    time_limit=SYNC_TIME_LIMIT,
    soft_time_limit=SYNC_TIME_LIMIT - 60,
)
def sync_account(
    self, account_id: int, trigger: str = "beat", since: str | None = None, until: str | None = None
) -> int | None:
    """Sync one account's usage; returns the SyncRun id (None when another sync of it was running).

    Retryable provider errors (429, 5xx, timeouts, malformed pages) retry with exponential backoff, or after
    the provider's Retry-After; rejected credentials and other permanent errors do not.
    """
    from allocator.models import ProviderAccount
    from allocator.usage import sync

    account = ProviderAccount.objects.get(pk=account_id)
    try:
        run = sync.usage_sync(account=account, since=_parse_moment(since), until=_parse_moment(until), trigger=trigger)
    except ProviderError as error:
        if error.permanent:
            raise
        backoff = 30 * 2**self.request.retries
        countdown = max(error.retry_after or 0, backoff)
        raise self.retry(exc=error, countdown=min(countdown, 30 * 60)) from error
    return run.pk if run else None


@shared_task(time_limit=3600)
def drop_old_usage() -> int:
    """Retention: delete raw buckets older than Policy.usage_retention_months (daily rollups stay)."""
    from allocator.usage.retention import usage_drop_old

    return usage_drop_old()
