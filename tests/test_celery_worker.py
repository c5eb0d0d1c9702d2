"""Tasks round-trip through a real Celery worker process on the configured broker."""

import time

import pytest
from django.urls import reverse

from allocator.models import Key, KeyRequest
from allocator.tasks import heartbeat
from tests.conftest import login

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_heartbeat_round_trips_through_the_worker(celery_worker):
    result = heartbeat.delay()
    assert result.get(timeout=30)  # an ISO timestamp produced in the worker process


def test_worker_mints_an_auto_approved_key(celery_worker, engineer, team, simulated, policy):
    login(engineer).post(
        reverse("allocator:request_create"),
        {
            "account": simulated.pk,
            "owner": "me",
            "team": team.pk,
            "name": "ci",
            "purpose": "worker test",
            "allowance_usd": "10",
            "submit": "1",
        },
    )
    key_request = KeyRequest.objects.get()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        key_request.refresh_from_db()
        if key_request.state == KeyRequest.State.MINTED:
            break
        time.sleep(0.2)
    assert key_request.state == KeyRequest.State.MINTED
    assert Key.objects.get(request=key_request).secret_available
