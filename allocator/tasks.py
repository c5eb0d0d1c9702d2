"""Celery entry points for keys: they take ids, load rows and call services."""

import logging

from celery import shared_task
from django.utils import timezone

from allocator import services
from allocator.providers.base import ProviderError

logger = logging.getLogger(__name__)


@shared_task
def heartbeat() -> str:
    """Proves the worker and beat are wired: logs and returns the time."""
    now = timezone.now().isoformat()
    logger.info("heartbeat %s", now)
    return now


@shared_task(bind=True, max_retries=services.MAX_MINT_ATTEMPTS - 1, acks_late=True, time_limit=300)
def mint_key(self, key_request_id: int) -> int | None:
    final = self.request.retries >= self.max_retries
    try:
        key = services.key_mint(key_request_id=key_request_id, final_attempt=final)
    except ProviderError as error:
        # Exponential backoff, or the provider's Retry-After when it gave one.
        countdown = error.retry_after if error.retry_after is not None else 5 * 2**self.request.retries
        raise self.retry(exc=error, countdown=countdown) from error
    return key.pk if key else None


@shared_task
def expire_key_secrets() -> int:
    return services.key_secrets_expire()


@shared_task
def sync_all_accounts() -> None:
    """Fan out one usage sync per enabled account (implemented with usage ingestion)."""
