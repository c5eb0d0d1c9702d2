"""Outgoing event webhooks against the receiver check the README gives (run from the README itself): a real
delivery passes, the same delivery replayed after the five-minute window is refused, and so is a changed body."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import time_machine

from budgets.alerts import alert_deliver
from budgets.webhooks import WebhookDestination
from tests.budget_factories import AlertFactory, user_budget

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_verify():
    """The `verify` function of the README's "Webhooks (events out)" section."""
    block = re.search(r"```python\n(import hashlib, hmac, json, time\n.*?)```", README.read_text(), re.S)
    assert block, "the README's receiver example is gone"
    namespace: dict = {}
    exec(block.group(1), namespace)  # noqa: S102 - the documentation's own code
    return namespace["verify"]


def test_a_replayed_delivery_is_refused_by_the_documented_check(team, engineer, webhook_receiver):
    WebhookDestination.objects.create(team=team, url=webhook_receiver.hook_url, secret="whsec_replay")
    webhook_receiver.secret = "whsec_replay"
    budget = user_budget(engineer, team, "100")
    alert = AlertFactory(scope="user", scope_key=budget.scope_key, team=team, budget=budget, user=engineer)
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    [delivery] = webhook_receiver.requests_to("POST")
    headers = {name.title(): value for name, value in delivery.headers.items()}
    verify = readme_verify()

    assert verify("whsec_replay", headers, delivery.body)["id"] == f"alert-{alert.pk}"
    with pytest.raises(ValueError, match="bad signature"):
        verify("whsec_replay", headers, delivery.body.replace(b"alert.raised", b"key.reinstated"))
    with pytest.raises(ValueError, match="bad signature"):
        verify("whsec_other", headers, delivery.body)
    with time_machine.travel(time.time() + 301), pytest.raises(ValueError, match="stale timestamp"):
        verify("whsec_replay", headers, delivery.body)  # the same signed bytes, just past five minutes on
