"""With the broker down, pages and API calls that queue work say so instead of answering 500, and a decided
spend-limit increase whose answer could not be queued is sent again from beat."""

from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from allocator.task_queue import QUEUE_DOWN_MESSAGE
from tests.conftest import login
from tests.test_mint_sweeper import broker_down  # noqa: F401  (the fixture: a closed loopback port)


def test_sync_now_with_the_broker_down_says_nothing_was_queued(broker_down, finance, simulated):  # noqa: F811
    client = login(finance)
    response = client.post(reverse("allocator:sync_now", args=[simulated.pk]), follow=True)
    assert response.status_code == 200
    assert QUEUE_DOWN_MESSAGE in response.content.decode()
    assert not AuditEvent.objects.filter(action="usage.sync_requested").exists()

    htmx = client.post(reverse("allocator:sync_now", args=[simulated.pk]), headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"] == reverse("allocator:sync_status")


def test_api_sync_now_with_the_broker_down_answers_503_in_the_error_shape(broker_down, finance, simulated):  # noqa: F811
    response = login(finance).post(reverse("api:sync_now", args=[simulated.pk]))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "queue_unavailable"


def test_an_unsent_increase_answer_is_found_for_beat(db, simulated):
    from budgets.increase_request_models import SpendLimitRequest
    from budgets.increase_requests import increase_requests_unsent

    decided = SpendLimitRequest.objects.create(
        account=simulated, provider_request_id="slr_1", requester_email="a@example.com", reason="more",
        state=SpendLimitRequest.State.REJECTED,
    )  # fmt: skip
    pending = SpendLimitRequest.objects.create(
        account=simulated, provider_request_id="slr_2", requester_email="b@example.com", reason="more"
    )
    assert increase_requests_unsent() == []  # just decided: its own send may still be on the way
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert increase_requests_unsent() == [decided.pk]
        SpendLimitRequest.objects.filter(pk=decided.pk).update(provider_state=SpendLimitRequest.Sent.SENT)
        assert increase_requests_unsent() == []
    assert pending.state == SpendLimitRequest.State.PENDING
