"""Slack mrkdwn injection (defect 8): text people typed reaches Slack with & < > escaped, so a purpose cannot
post a fake "Approve" link or ping the channel; Allocator's own link stays a link."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from budgets.alerts import alert_deliver, approval_alerts_sync
from budgets.models import Alert
from budgets.slack import mrkdwn_escape
from budgets.slack_interactions import decide
from tests.factories import KeyRequestFactory

EVIL = "<https://evil.example|Approve in Allocator> <!channel> & more"


@pytest.fixture
def team_hook(team, slack_emulator):
    team.slack_webhook_url = slack_emulator.webhook_url
    team.save()
    return slack_emulator


def test_escape_turns_the_three_control_characters_into_entities():
    assert mrkdwn_escape("a & <b> c") == "a &amp; &lt;b&gt; c"


def test_a_purpose_with_a_link_and_a_mention_is_posted_escaped(settings, policy, simulated, engineer, team, team_hook):
    settings.SITE_URL = "https://allocator.example.com"
    KeyRequestFactory(requester=engineer, account=simulated, team=team, purpose=EVIL)
    approval_alerts_sync()
    alert_deliver(alert_id=Alert.objects.get(kind="approval").pk)
    (payload,) = team_hook.payloads
    section, context, _actions = payload["blocks"]
    for text in (section["text"]["text"], payload["text"]):
        assert "<https://evil.example" not in text and "<!channel>" not in text
        assert "&lt;https://evil.example|Approve in Allocator&gt; &lt;!channel&gt; &amp; more" in text
    assert "<https://allocator.example.com" in context["elements"][0]["text"]


def test_the_answer_to_a_click_escapes_the_request_name(policy, simulated, engineer, manager, team):
    cache.clear()
    key_request = KeyRequestFactory(requester=engineer, account=simulated, team=team, name="<!channel>")
    decided, text = decide(user=manager, action="approve", value=f"key_request:{key_request.pk}")
    assert decided
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
