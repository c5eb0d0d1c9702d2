"""Celery entry points of capacity (registered through allocator.tasks): they take ids and call the services."""

from __future__ import annotations

import logging

from celery import shared_task

from allocator.providers.base import ProviderError

logger = logging.getLogger(__name__)

MAX_RETRIES = 3


def _accounts(capability: str) -> list[int]:
    from allocator.models import ProviderAccount

    return [
        account.pk
        for account in ProviderAccount.objects.filter(enabled=True).exclude(
            status=ProviderAccount.Status.CREDENTIALS_INVALID
        )
        if getattr(account.capabilities, capability)
    ]


def _retry(task, error: ProviderError):
    if error.permanent:
        logger.warning("capacity read failed for good: %s", error)
        return None
    countdown = error.retry_after if error.retry_after is not None else 60 * 2**task.request.retries
    raise task.retry(exc=error, countdown=countdown) from error


@shared_task
def capacity_limits_all() -> int:
    """Beat, daily: read every account's rate limits, one task per account."""
    ids = _accounts("rate_limits")
    for account_id in ids:
        capacity_limits.delay(account_id)
    return len(ids)


@shared_task(bind=True, max_retries=MAX_RETRIES, time_limit=600)
def capacity_limits(self, account_id: int) -> int | None:
    from allocator.capacity.limits import limits_refresh
    from allocator.models import ProviderAccount

    try:
        return limits_refresh(account=ProviderAccount.objects.get(pk=account_id))
    except ProviderError as error:
        return _retry(self, error)


@shared_task
def capacity_demand_all() -> int:
    """Beat, hourly: pull every account's minute usage of yesterday and today, then raise capacity alerts."""
    ids = _accounts("minute_usage")
    for account_id in ids:
        capacity_demand.delay(account_id)
    return len(ids)


@shared_task(bind=True, max_retries=MAX_RETRIES, time_limit=1800)
def capacity_demand(self, account_id: int) -> int | None:
    from allocator.capacity.alerts import capacity_alerts_raise
    from allocator.capacity.peaks import demand_sync
    from allocator.models import ProviderAccount

    try:
        rows = demand_sync(account=ProviderAccount.objects.get(pk=account_id))
    except ProviderError as error:
        return _retry(self, error)
    capacity_alerts_raise()
    return rows
