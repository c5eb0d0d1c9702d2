"""Celery application. Beat's schedule lives in settings (CELERY_BEAT_SCHEDULE)."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import beat_init
from django_structlog.celery.steps import DjangoStructLogInitStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allocator.settings")

app = Celery("allocator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Tasks log with the request_id of the request that sent them (django-structlog's worker step).
app.steps["worker"].add(DjangoStructLogInitStep)


@app.on_configure.connect
def _make_broker_folder(sender: Celery, **kwargs) -> None:
    """The filesystem broker and result backend need their folders to exist before the first message."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        settings.CELERY_FILESYSTEM_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    if settings.CELERY_RESULT_BACKEND.startswith("file://"):
        Path(settings.CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


@beat_init.connect
def _heartbeat_on_start(sender, **kwargs) -> None:
    """Send one heartbeat as beat starts, so the worker log shows the wiring at once."""
    sender.app.send_task("allocator.tasks.heartbeat")
