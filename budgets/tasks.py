"""Celery entry points for budgets: enforcement and the alert outbox. They take ids and call services.

`budgets.tasks.enforce_budgets` is a fixed name: the usage sync sends it by name after every sync.
"""

from __future__ import annotations

import logging

from celery import shared_task

from budgets import alerts, slack
from budgets.enforce import enforce_budgets as run_enforcement

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, time_limit=600)
def enforce_budgets() -> dict:
    """Spend vs budget for every scope of the current quarter; alerts, suspensions, reinstatements."""
    return run_enforcement().as_dict()


@shared_task(acks_late=True, time_limit=120)
def deliver_alert(alert_id: int) -> str:
    """Deliver one alert. On a retryable failure the row stays pending with its next attempt time, and a
    delayed copy of this task is queued (beat's deliver_alerts is the safety net if that copy is lost)."""
    result = alerts.alert_deliver(alert_id=alert_id)
    if result.status == "retry" and result.retry_in is not None:
        deliver_alert.apply_async((alert_id,), countdown=result.retry_in)
    return result.status


@shared_task(acks_late=True, time_limit=300)
def deliver_alerts() -> int:
    """Queue approval messages that are missing, then deliver every alert that is due (beat, every minute)."""
    alerts.approval_alerts_sync()
    due = alerts.alerts_due()
    for alert_id in due:
        deliver_alert.delay(alert_id)
    return len(due)


@shared_task(bind=True, max_retries=4, acks_late=True, time_limit=60)
def slack_follow_up(self, response_url: str, body: dict) -> None:
    """Update the Slack message a button was clicked on (response_url works 5 times in 30 minutes)."""
    try:
        slack.post_webhook(response_url, body)
    except slack.SlackError as error:
        if error.permanent:
            logger.warning("Slack follow-up refused: %s", error)
            return
        raise self.retry(exc=error, countdown=error.retry_after or 5 * 2**self.request.retries) from error


@shared_task(acks_late=True, time_limit=300)
def provider_caps_retry(account_id: int) -> int:
    """Write the provider-side caps of one account again after a failed write (queued with backoff)."""
    from budgets.member_caps import member_caps_keep
    from budgets.provider_caps import provider_caps_keep

    failed = provider_caps_keep(account_ids=[account_id], retrying=True).failed
    return len(failed) + len(member_caps_keep(account_ids=[account_id], retrying=True).failed)


@shared_task(acks_late=True, time_limit=120, expires=60)
def fast_lane() -> dict:
    """Beat, every minute: sync and enforce the keys near a hard cap (budgets.fast_lane); a run that waited a
    minute in the queue is dropped, the next one is due."""
    from budgets.fast_lane import fast_lane_run

    report = fast_lane_run()
    return {"keys": report.keys, "synced": report.synced, "deferred": report.deferred, "calls": report.calls}


@shared_task(bind=True, max_retries=5, acks_late=True, time_limit=60)
def increase_request_send(self, request_id: int) -> bool:
    """Tell the provider how a spend-limit increase request was decided (retried with backoff)."""
    from allocator.providers.base import ProviderError
    from budgets.increase_requests import increase_request_send as send

    try:
        return send(pk=request_id)
    except ProviderError as error:
        raise self.retry(exc=error, countdown=error.retry_after or 30 * 2**self.request.retries) from error


@shared_task(acks_late=True, time_limit=300)
def increase_requests_sync() -> int:
    """Beat: mirror pending spend-limit increase requests of every account whose provider has them."""
    from allocator.models import ProviderAccount
    from allocator.providers.base import ProviderError
    from budgets.increase_requests import increase_request_send_enqueue_pk, increase_requests_unsent
    from budgets.increase_requests import increase_requests_sync as mirror

    created = 0
    for account in ProviderAccount.objects.filter(enabled=True):
        if account.capabilities.increase_requests:
            try:
                created += mirror(account=account)
            except ProviderError as error:
                logger.warning("increase requests of %s: %s", account, error)
    for pk in increase_requests_unsent():  # decided while the broker was down: their answer was never queued
        increase_request_send_enqueue_pk(pk)
    return created


@shared_task(acks_late=True, time_limit=120)
def history_gap_alerts() -> int:
    """Beat, hourly, and sent by name when a sync finds a gap: one alert per lost stretch of usage history."""
    from budgets.history_gaps import history_gap_alerts as alert_gaps

    return len(alert_gaps())
