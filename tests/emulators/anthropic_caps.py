"""The Anthropic emulator's Spend Limits (beta) and spend-limit increase requests (provider-apis.md §8).

Spend limits: `POST /v1/organizations/spend_limits` upserts one limit per (scope, period), `amount` an integer
string in minor units (a null amount clears the pair); `GET …/spend_limits/effective` answers the limits that apply
to a scope. Organizations without the feature answer 404 (`spend_limits_available = False`) or 403
(`spend_limits_forbidden = True`). Increase requests page like the other object lists (`limit`/`after_id`).
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.emulators.base import EmulatorError, RecordedRequest, Reply, int_param, json_reply

ORG = "/v1/organizations"
PERIODS = ("daily", "weekly", "monthly")


class SpendLimitsMixin:
    """Mixed into AnthropicEmulator (which provides `route`)."""

    def install_caps(self) -> None:
        self.spend_limits: dict[tuple[str, str], dict[str, Any]] = {}  # (scope id, period) -> limit
        self.spend_limits_available = True
        self.spend_limits_forbidden = False
        self.increase_requests: dict[str, dict[str, Any]] = {}
        self._request_ids = itertools.count(1)
        self.route("POST", ORG + "/spend_limits", self._upsert_spend_limit)
        self.route("GET", ORG + "/spend_limits/effective", self._effective_spend_limits)
        self.route("GET", ORG + "/spend_limit_increase_requests", self._list_increase_requests)
        self.route("POST", ORG + r"/spend_limit_increase_requests/(?P<request_id>[^/]+)/approve", self._approve)
        self.route("POST", ORG + r"/spend_limit_increase_requests/(?P<request_id>[^/]+)/deny", self._deny)

    def add_increase_request(self, email: str, amount_cents: int, reason: str = "") -> dict[str, Any]:
        """A member asked for a higher limit (as if from the Claude apps)."""
        request_id = f"slir_{next(self._request_ids):04d}"
        with self.lock:
            self.increase_requests[request_id] = {
                "id": request_id,
                "type": "spend_limit_increase_request",
                "requester": {"email": email, "name": email.split("@")[0]},
                "requested_amount": str(amount_cents),
                "currency": "USD",
                "reason": reason,
                "status": "pending",
                "created_at": "2026-11-30T09:00:00Z",
                "approved_amount": None,
            }
        return self.increase_requests[request_id]

    def _available(self) -> None:
        if self.spend_limits_forbidden:
            raise EmulatorError(403, "Your organization does not have access to spend limits")
        if not self.spend_limits_available:
            raise EmulatorError(404, "Not found")

    @staticmethod
    def _scope_id(scope: Any) -> str:
        if not isinstance(scope, dict) or scope.get("type") not in ("workspace", "organization"):
            raise EmulatorError(400, "scope: expected {type: workspace, workspace_id} or {type: organization}")
        if scope["type"] == "organization":
            return "organization"
        if not isinstance(scope.get("workspace_id"), str) or not scope["workspace_id"]:
            raise EmulatorError(400, "scope.workspace_id: Field required")
        return scope["workspace_id"]

    def _upsert_spend_limit(self, request: RecordedRequest) -> Reply:
        self._available()
        body = request.json
        if not isinstance(body, dict):
            raise EmulatorError(400, "Expected a JSON body")
        scope_id = self._scope_id(body.get("scope"))
        period = body.get("period")
        if period not in PERIODS:
            raise EmulatorError(400, "period: Input should be 'daily', 'weekly' or 'monthly'")
        amount = body.get("amount")
        if amount is None:
            self.spend_limits.pop((scope_id, period), None)
            return json_reply({"type": "spend_limit_deleted", "scope": body["scope"], "period": period})
        if not isinstance(amount, str) or not amount.isdigit():
            raise EmulatorError(400, "amount: Input should be an integer string in minor units")
        limit = {"type": "spend_limit", "scope": body["scope"], "period": period, "amount": amount, "currency": "USD"}
        self.spend_limits[scope_id, period] = limit
        return json_reply(limit)

    def _effective_spend_limits(self, request: RecordedRequest) -> Reply:
        self._available()
        scope_id = request.query_value("workspace_id") or "organization"
        data = [
            {**limit, "source": "workspace" if sid != "organization" else "organization"}
            for (sid, _), limit in self.spend_limits.items()
            if sid in (scope_id, "organization")
        ]
        return json_reply({"data": data})

    def _list_increase_requests(self, request: RecordedRequest) -> Reply:
        self._available()
        limit = int_param(request, "limit", 20, 1, 1000)
        items = list(self.increase_requests.values())
        if status := request.query_value("status"):
            items = [r for r in items if r["status"] == status]
        ids = [r["id"] for r in items]
        start = 0
        if after_id := request.query_value("after_id"):
            if after_id not in ids:
                raise EmulatorError(400, f"after_id: unknown id {after_id}")
            start = ids.index(after_id) + 1
        data = items[start : start + limit]
        return json_reply(
            {
                "data": data,
                "has_more": start + limit < len(items),
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    def _pending(self, request_id: str) -> dict[str, Any]:
        self._available()
        item = self.increase_requests.get(request_id)
        if item is None:
            raise EmulatorError(404, f"Spend limit increase request {request_id} not found")
        if item["status"] != "pending":
            raise EmulatorError(409, f"Request {request_id} is already {item['status']}")
        return item

    def _approve(self, request: RecordedRequest, request_id: str) -> Reply:
        item = self._pending(request_id)
        amount = (request.json or {}).get("amount", item["requested_amount"])
        if not isinstance(amount, str) or not amount.isdigit():
            raise EmulatorError(400, "amount: Input should be an integer string in minor units")
        item.update(status="approved", approved_amount=amount)
        return json_reply(item)

    def _deny(self, request: RecordedRequest, request_id: str) -> Reply:
        item = self._pending(request_id)
        item["status"] = "denied"
        return json_reply(item)
