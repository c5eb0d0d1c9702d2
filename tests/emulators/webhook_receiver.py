"""A receiver of Allocator's event webhooks: checks each POST's signature the way the README tells receivers to
(HMAC-SHA256 of `timestamp + "." + body` with the destination's secret, timestamp within 5 minutes) and keeps
the events it accepted. A bad signature answers 401; faults (`fail_next`) answer 5xx or 429."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from tests.emulators.base import Emulator, EmulatorError, RecordedRequest, Reply, json_reply


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> dict:
    """The README's receiver snippet: raise ValueError unless Allocator signed this body just now."""
    timestamp = headers["x-allocator-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        raise ValueError("stale timestamp")
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers["x-allocator-signature"]):
        raise ValueError("bad signature")
    return json.loads(body)


class WebhookReceiver(Emulator):
    name = "webhook-receiver"

    def __init__(self) -> None:
        super().__init__()
        self.secret = ""
        self.events: list[dict[str, Any]] = []
        self.route("POST", r"/.*", self._receive)

    @property
    def hook_url(self) -> str:
        return self.origin + "/hooks/allocator"

    def _receive(self, request: RecordedRequest) -> Reply:
        try:
            event = verify(self.secret, request.headers, request.body)
        except (KeyError, ValueError) as error:
            raise EmulatorError(401, str(error)) from error
        with self.lock:
            self.events.append(event)
        return json_reply({"ok": True})
