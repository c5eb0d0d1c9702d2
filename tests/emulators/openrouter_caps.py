"""The OpenRouter emulator's guardrails (provider-apis.md §8): CRUD under /api/v1/guardrails, a budget that needs
`limit_usd` and `reset_interval` together, a model allow-list, and bulk assignment to keys."""

from __future__ import annotations

import itertools
from typing import Any

from tests.emulators.base import EmulatorError, RecordedRequest, Reply, json_reply

G = r"/api/v1/guardrails"
RESET_INTERVALS = ("daily", "weekly", "monthly")
FIELDS = {"name", "description", "limit_usd", "reset_interval", "allowed_models", "allowed_providers"}


class GuardrailsMixin:
    """Mixed into OpenRouterEmulator (which provides `route` and `keys`)."""

    def install_caps(self) -> None:
        self.guardrails: dict[str, dict[str, Any]] = {}
        self.guardrail_keys: dict[str, set[str]] = {}  # guardrail id -> key hashes
        self._guardrail_ids = itertools.count(1)
        self.route("GET", G, self._list_guardrails)
        self.route("POST", G, self._create_guardrail)
        self.route("GET", G + r"/(?P<guardrail_id>[^/]+)", self._get_guardrail)
        self.route("PATCH", G + r"/(?P<guardrail_id>[^/]+)", self._update_guardrail)
        self.route("DELETE", G + r"/(?P<guardrail_id>[^/]+)", self._delete_guardrail)
        self.route("POST", G + r"/(?P<guardrail_id>[^/]+)/assignments/keys", self._assign_keys)

    def _guardrail(self, guardrail_id: str) -> dict[str, Any]:
        guardrail = self.guardrails.get(guardrail_id)
        if guardrail is None:
            raise EmulatorError(404, "Guardrail not found")
        return guardrail

    @staticmethod
    def _check(body: Any, merged: dict[str, Any]) -> None:
        if not isinstance(body, dict) or set(body) - FIELDS:
            raise EmulatorError(400, f"Body may hold only: {', '.join(sorted(FIELDS))}")
        limit, interval = merged.get("limit_usd"), merged.get("reset_interval")
        if (limit is None) != (interval is None):
            raise EmulatorError(400, "limit_usd and reset_interval must be set together")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0):
            raise EmulatorError(400, "limit_usd must be a non-negative number")
        if interval is not None and interval not in RESET_INTERVALS:
            raise EmulatorError(400, "reset_interval must be daily, weekly or monthly")
        models = merged.get("allowed_models")
        if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
            raise EmulatorError(400, "allowed_models must be a list of model ids or null")

    def _list_guardrails(self, request: RecordedRequest) -> Reply:
        return json_reply({"data": list(self.guardrails.values())})

    def _create_guardrail(self, request: RecordedRequest) -> Reply:
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise EmulatorError(400, "name is required")
        guardrail = {"name": "", "description": "", "limit_usd": None, "reset_interval": None,
                     "allowed_models": None, "allowed_providers": None, **body}  # fmt: skip
        self._check(body, guardrail)
        guardrail["id"] = f"gr_{next(self._guardrail_ids):04d}"
        self.guardrails[guardrail["id"]] = guardrail
        self.guardrail_keys[guardrail["id"]] = set()
        return json_reply({"data": guardrail}, 201)

    def _get_guardrail(self, request: RecordedRequest, guardrail_id: str) -> Reply:
        return json_reply({"data": self._guardrail(guardrail_id)})

    def _update_guardrail(self, request: RecordedRequest, guardrail_id: str) -> Reply:
        guardrail = self._guardrail(guardrail_id)
        body = request.json
        merged = {**guardrail, **(body if isinstance(body, dict) else {})}
        self._check(body, merged)
        guardrail.update(body)
        return json_reply({"data": guardrail})

    def _delete_guardrail(self, request: RecordedRequest, guardrail_id: str) -> Reply:
        self._guardrail(guardrail_id)
        del self.guardrails[guardrail_id]
        self.guardrail_keys.pop(guardrail_id, None)
        return json_reply({"deleted": True})

    def _assign_keys(self, request: RecordedRequest, guardrail_id: str) -> Reply:
        self._guardrail(guardrail_id)
        hashes = (request.json or {}).get("key_hashes")
        if not isinstance(hashes, list) or not hashes or not all(isinstance(h, str) for h in hashes):
            raise EmulatorError(400, "key_hashes must be a non-empty list")
        unknown = [h for h in hashes if h not in self.keys]
        if unknown:
            raise EmulatorError(404, f"Unknown keys: {', '.join(unknown)}")
        self.guardrail_keys[guardrail_id].update(hashes)
        return json_reply({"assigned_count": len(hashes)})
