"""Sending Celery tasks from a web request when the broker may be down.

A page or API call that queues work must not answer 500 because the broker is unreachable: `task_send` reports
False instead (and logs it), and the caller says so or leaves the work to a sweeper that retries later.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

QUEUE_DOWN_MESSAGE = "The task queue is unreachable right now, so nothing was queued. Try again in a minute."


def task_send(task: Any, *args: Any, countdown: float | None = None) -> bool:
    """Queue `task(*args)`; False (logged, never raised) when the broker cannot be reached."""
    try:
        if countdown is None:
            task.delay(*args)
        else:
            task.apply_async(args, countdown=countdown)
    except (OperationalError, ConnectionError, OSError) as error:
        logger.warning("broker unreachable, %s not queued: %s", getattr(task, "name", task), error)
        return False
    return True
