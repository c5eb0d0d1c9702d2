"""Reveal once under concurrent requests: the owner's browser tabs and scripts ask for the secret at the same moment
(threads, each with its own database connection; on PostgreSQL when the suite runs there). Exactly one answer holds
the secret; every other one is told it was shown already, and the secret is gone from the database."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import AuditEvent
from tests.api_helpers import script
from tests.budget_factories import simulated_key
from tests.conftest import login

SECRET = "sk-sim-reveal-once-0123456789abcdef"
CALLERS = 8


@pytest.mark.django_db(transaction=True)
def test_exactly_one_of_many_simultaneous_reveals_gets_the_secret(engineer, team, simulated):
    key = simulated_key(simulated, team=team, owner_user=engineer)
    key.hold_secret(SECRET, hours=24)
    key.save()
    page, api = reverse("allocator:key_reveal", args=[key.pk]), reverse("api:key_reveal", args=[key.pk])
    callers = [(login(engineer), page) if n % 2 else (script(engineer), api) for n in range(CALLERS)]
    barrier = threading.Barrier(CALLERS)
    answers: list[tuple[str, int, bytes]] = []
    errors: list[BaseException] = []

    def reveal(client, url) -> None:
        try:
            barrier.wait(timeout=20)
            response = client.post(url)
            answers.append((url, response.status_code, response.content))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=reveal, args=caller) for caller in callers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(answers) == CALLERS
    winners = [answer for answer in answers if SECRET.encode() in answer[2]]
    assert len(winners) == 1 and winners[0][1] == 200, [(url, status) for url, status, _ in answers]
    refused = sorted(status for url, status, content in answers if answer_is_refusal(url, status, content))
    assert len(refused) == CALLERS - 1, [(url, status) for url, status, _ in answers]
    key.refresh_from_db()
    assert not key.secret_available and key.pending_secret == ""
    assert AuditEvent.objects.filter(action="key.secret_revealed").count() == 1


def answer_is_refusal(url: str, status: int, content: bytes) -> bool:
    """The page says 410 Gone, the API 409 Conflict in its error shape; neither shows the secret."""
    return SECRET.encode() not in content and status == (409 if url.startswith("/api/") else 410)

