"""Emulator of a Slack incoming webhook (provider-apis.md section 5).

POST to any path answers 200 with the plain-text body `ok` and keeps the JSON payload in `payloads`.
Slack errors are plain text too, so injected faults answer e.g. 429 `rate_limited` with Retry-After.
"""

from __future__ import annotations

import json
from typing import Any

from tests.emulators.base import Emulator, EmulatorError, RecordedRequest, Reply, text_reply


class SlackEmulator(Emulator):
    name = "slack-emulator"
    malformed_body = b"<html><body>502 Bad Gateway</body></html>"

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[Any] = []
        self.route("POST", r"/.*", self._webhook)

    @property
    def webhook_url(self) -> str:
        """A realistic-looking incoming webhook URL on this emulator."""
        return self.origin + "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        return text_reply(code or message, status)

    def fault_message(self, status: int) -> str:
        return "rate_limited" if status == 429 else super().fault_message(status)

    def _webhook(self, request: RecordedRequest) -> Reply:
        payload = request.json
        if payload is None and request.form and "payload" in request.form:
            # Webhooks also accept the JSON as a form field named `payload`.
            try:
                payload = json.loads(request.form["payload"])
            except ValueError:
                payload = None
        if payload is None:
            raise EmulatorError(400, "invalid_payload")
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            raise EmulatorError(400, "no_text")
        with self.lock:
            self.payloads.append(payload)
        return text_reply("ok")
