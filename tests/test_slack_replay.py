"""Slack replay protection across processes (defect 7): production runs several gunicorn workers, so a replayed
click may reach another process. The guard uses the shared cache's atomic `add` (first one wins); with a shared
backend a second process refuses the replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from django.core.cache import caches
from django.test import override_settings
from django.urls import reverse

from budgets.slack import sign

SECRET = "fedcba9876543210fedcba9876543210"

# Run in another interpreter: the same signed request, through the same endpoint, with the same cache settings,
# on this process's clock (a test may run at a fixed instant; the request's timestamp must not look stale there).
REPLAY = """
import json, os, sys
import django
import time_machine
django.setup()
from django.test import Client
from django.test.utils import override_settings
caches, url, body, ts, signature, secret, now = json.loads(sys.stdin.read())
settings = override_settings(CACHES=caches, SLACK_SIGNING_SECRET=secret, ALLOWED_HOSTS=["*"])
with time_machine.travel(now, tick=True), settings:
    response = Client().generic("POST", url, body.encode(), content_type="application/x-www-form-urlencoded",
        headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature})
print(response.status_code)
"""


def _signed_click() -> tuple[bytes, str, str]:
    payload = {"type": "block_actions", "user": {"id": "U0NOBODY"}, "actions": []}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    return body, ts, sign(secret=SECRET, timestamp=ts, body=body)


def _replay_elsewhere(cache_settings: dict, body: bytes, ts: str, signature: str) -> int:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(root)}
    url = reverse("budgets:slack_interactions")
    data = json.dumps([cache_settings, url, body.decode(), ts, signature, SECRET, time.time()])
    done = subprocess.run(
        [sys.executable, "-c", REPLAY], input=data, capture_output=True, text=True, cwd=root, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip().splitlines()[-1])


def test_a_replay_reaching_another_process_is_refused(client, db, tmp_path):
    shared = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}}
    body, ts, signature = _signed_click()
    with override_settings(CACHES=shared, SLACK_SIGNING_SECRET=SECRET):
        first = client.generic(
            "POST",
            reverse("budgets:slack_interactions"),
            body,
            content_type="application/x-www-form-urlencoded",
            headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature},
        )
        assert first.status_code == 200
        # A second client of the same cache (another worker's connection) sees the signature as taken.
        other = caches.create_connection("default")
        assert other.add(f"slack-signature:{signature}", 1) is False
    assert _replay_elsewhere(shared, body, ts, signature) == 403


def test_a_fresh_request_in_another_process_is_accepted(db, tmp_path):
    """The guard refuses only what it has seen: a first request in the other process goes through."""
    shared = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}}
    body, ts, signature = _signed_click()
    assert _replay_elsewhere(shared, body, ts, signature) == 200
