"""Broker down when a manager approves: the approval is saved, the page says minting is queued, and the sweeper
mints the key once the broker is back. The broker is really unreachable (a closed loopback port)."""

import socket
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from allocator.celery import app as celery_app
from allocator.models import Key, KeyRequest, ProviderKind
from tests.conftest import login
from tests.factories import KeyRequestFactory
from tests.usage_helpers import emulator_account


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def broker_down(monkeypatch):
    """Point the Celery app at a Redis port nobody listens on, as when the broker is down. Celery reads
    CELERY_BROKER_URL from the environment before its configuration (CI sets it), so both point there."""
    previous = celery_app.conf.broker_url, celery_app.conf.task_always_eager
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead)
    celery_app.conf.broker_url = dead
    celery_app.conf.task_always_eager = False
    celery_app._pool = celery_app.amqp._producer_pool = None  # connections to the old broker are not reused
    yield
    celery_app.conf.broker_url, celery_app.conf.task_always_eager = previous
    celery_app._pool = celery_app.amqp._producer_pool = None


@pytest.fixture
def waiting_request(openrouter_emulator, team, engineer):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, retries=0)
    return KeyRequestFactory(requester=engineer, account=account, team=team, allowance_usd=Decimal("300"))


def test_approval_with_the_broker_down_is_saved_and_says_minting_is_queued(
    broker_down, waiting_request, manager, openrouter_emulator, django_capture_on_commit_callbacks, caplog
):
    client = login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("allocator:request_approve", args=[waiting_request.pk]), follow=True)

    assert response.status_code == 200
    assert "approved: minting is queued" in response.content.decode()
    waiting_request.refresh_from_db()
    assert waiting_request.state == KeyRequest.State.APPROVED
    assert AuditEvent.objects.filter(action="key_request.approved_manager").count() == 1
    assert not Key.objects.exists() and openrouter_emulator.requests_to("POST", "/keys") == []
    assert "broker unreachable, mint of key request" in caplog.text  # the send really failed

    page = client.get(waiting_request.get_absolute_url()).content.decode()
    assert "minting is queued" in page and "task queue has not taken it yet" not in page
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        page = client.get(waiting_request.get_absolute_url()).content.decode()
    assert "The task queue has not taken it yet" in page


def test_htmx_approval_with_the_broker_down_says_minting_is_queued(
    broker_down, waiting_request, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(manager).post(
            reverse("allocator:request_approve", args=[waiting_request.pk]), headers={"HX-Request": "true"}
        )
    assert response.status_code == 200
    assert "Approved by you; minting is queued." in response.content.decode()


def test_sweeper_mints_once_the_broker_is_back_and_a_second_send_is_harmless(
    broker_down, waiting_request, manager, engineer, openrouter_emulator, django_capture_on_commit_callbacks
):
    from allocator.tasks import mint_key, sweep_unminted_requests

    with django_capture_on_commit_callbacks(execute=True):
        login(manager).post(reverse("allocator:request_approve", args=[waiting_request.pk]))
    assert sweep_unminted_requests() == 0  # approved just now: not the sweeper's yet
    later = timezone.now() + timedelta(minutes=6)
    with time_machine.travel(later):
        assert sweep_unminted_requests() == 0  # the broker is still down: nothing sent, nothing lost

    # The broker is back (a worker runs what is sent).
    celery_app.conf.task_always_eager = True
    with time_machine.travel(later):
        assert sweep_unminted_requests() == 1
        assert sweep_unminted_requests() == 0  # minted: nothing left to sweep
        mint_key.delay(waiting_request.pk)  # a duplicate send (a late original, a second beat) changes nothing

    waiting_request.refresh_from_db()
    assert waiting_request.state == KeyRequest.State.MINTED
    assert Key.objects.filter(request=waiting_request).count() == 1
    assert len(openrouter_emulator.requests_to("POST", "/keys")) == 1
    assert AuditEvent.objects.filter(action="key.minted").count() == 1
    page = login(engineer).get(waiting_request.get_absolute_url()).content.decode()
    assert "The key is ready." in page


def test_sweeper_leaves_requests_being_minted_or_retried_alone(waiting_request, manager):
    from allocator.key_requests import key_requests_unminted

    now = timezone.now()
    KeyRequest.objects.filter(pk=waiting_request.pk).update(
        state=KeyRequest.State.APPROVED, updated_at=now - timedelta(minutes=30), mint_claimed_at=now
    )
    assert key_requests_unminted(now=now) == []  # a worker holds a fresh claim
    KeyRequest.objects.filter(pk=waiting_request.pk).update(mint_claimed_at=now - timedelta(minutes=11))
    assert key_requests_unminted(now=now) == [waiting_request.pk]  # that worker died
    KeyRequest.objects.filter(pk=waiting_request.pk).update(mint_claimed_at=None, updated_at=now)
    assert key_requests_unminted(now=now) == []  # a failed attempt just now: its retry is on its way
