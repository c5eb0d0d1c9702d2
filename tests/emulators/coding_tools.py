"""Emulators of the coding-tool APIs: Anthropic's Claude Code usage report and GitHub Copilot's billing endpoints.

- `ClaudeCodeEmulator`: `GET /v1/organizations/usage_report/claude_code?starting_at=YYYY-MM-DD&limit=&page=`, one
  UTC day per call, `limit` 1–1000 (default 20), opaque `page` cursor, `{"data", "has_more", "next_page"}`, the
  Anthropic error shape; seed with `add_record(day, email=… | api_key_name=…, customer_type=…, models=[…])`.
- `CopilotEmulator`: `GET /orgs/{org}/copilot/billing/seats` (`per_page`, `page`, Link header) and
  `GET /organizations/{org}/settings/billing/premium_request/usage?year&month&day&user&model&product`; seed with
  `add_seat(login, email=…)` and `add_usage(day, login, model, gross=…, net_amount=…)`; GitHub's error shape.
"""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal
from typing import Any

from tests.emulators.anthropic import ERROR_TYPES
from tests.emulators.base import (
    Emulator,
    EmulatorError,
    RecordedRequest,
    Reply,
    decode_page_token,
    encode_page_token,
    int_param,
    json_reply,
)

CLAUDE_CODE = "/v1/organizations/usage_report/claude_code"


def claude_code_record(
    day: date,
    *,
    email: str | None = None,
    api_key_name: str | None = None,
    customer_type: str = "subscription",
    sessions: int = 1,
    lines: tuple[int, int] = (0, 0),
    commits: int = 0,
    pull_requests: int = 0,
    accepted: int = 0,
    models: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One record as the report has it; `models`: [{"model", "input", "output", "cache_read", "cache_creation",
    "cents"}]."""
    actor = (
        {"type": "user_actor", "email_address": email} if email else {"type": "api_actor", "api_key_name": api_key_name}
    )
    return {
        "date": f"{day.isoformat()}T00:00:00Z",
        "actor": actor,
        "organization_id": "12345678-1234-5678-1234-567812345678",
        "customer_type": customer_type,
        "terminal_type": "vscode",
        "core_metrics": {
            "num_sessions": sessions,
            "lines_of_code": {"added": lines[0], "removed": lines[1]},
            "commits_by_claude_code": commits,
            "pull_requests_by_claude_code": pull_requests,
        },
        "tool_actions": {
            "edit_tool": {"accepted": accepted, "rejected": 1},
            "write_tool": {"accepted": 0, "rejected": 0},
        },
        "model_breakdown": [
            {
                "model": m["model"],
                "tokens": {k: m.get(k, 0) for k in ("input", "output", "cache_read", "cache_creation")},
                "estimated_cost": {"currency": "USD", "amount": m.get("cents", 0)},
            }
            for m in models or []
        ],
    }


class ClaudeCodeEmulator(Emulator):
    name = "claude-code-emulator"
    credential = "sk-ant-admin01-claude-code-emulator-key"

    def __init__(self, credential: str | None = None) -> None:
        super().__init__(credential)
        self.records: dict[date, list[dict[str, Any]]] = {}
        self.route("GET", CLAUDE_CODE, self._report)

    def add_record(self, day: date, **kwargs: Any) -> dict[str, Any]:
        record = claude_code_record(day, **kwargs)
        self.records.setdefault(day, []).append(record)
        return record

    def check_auth(self, request: RecordedRequest) -> None:
        given = request.headers.get("x-api-key")
        if not given:
            raise EmulatorError(401, "x-api-key header is required")
        if not secrets.compare_digest(given, self.credential):
            raise EmulatorError(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise EmulatorError(400, "anthropic-version: header is required")

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        body = {"type": "error", "error": {"type": code or ERROR_TYPES.get(status, "api_error"), "message": message}}
        return json_reply({**body, "request_id": f"req_{secrets.token_hex(8)}"}, status)

    def _report(self, request: RecordedRequest) -> Reply:
        raw = request.query_value("starting_at")
        if not raw:
            raise EmulatorError(400, "starting_at is required")
        try:
            day = date.fromisoformat(raw)
        except ValueError as e:
            raise EmulatorError(400, "starting_at must be a date YYYY-MM-DD") from e
        limit = int_param(request, "limit", 20, 1, 1000)
        token = request.query_value("page")
        offset = int(decode_page_token(token)["offset"]) if token else 0
        records = self.records.get(day, [])
        page, more = records[offset : offset + limit], offset + limit < len(records)
        next_page = encode_page_token({"offset": offset + limit}) if more else None
        return json_reply({"data": page, "has_more": more, "next_page": next_page})


class CopilotEmulator(Emulator):
    name = "copilot-emulator"
    credential = "github_pat_copilot_emulator_token"
    malformed_body = b'{"total_seats": 2, "seats": [{"assignee": '

    def __init__(self, credential: str | None = None, org: str = "acme") -> None:
        super().__init__(credential)
        self.org = org
        self.seats: list[dict[str, Any]] = []
        self.usage: list[dict[str, Any]] = []  # {"day", "user", "model", "gross", "net_amount", "price"}
        self.route("GET", r"/orgs/(?P<org>[^/]+)/copilot/billing/seats", self._seats)
        self.route("GET", r"/organizations/(?P<org>[^/]+)/settings/billing/premium_request/usage", self._usage)

    def add_seat(
        self, login: str, *, email: str | None = None, plan: str = "business",
        last_activity_at: str = "2026-11-20T12:00:00Z",
    ) -> None:  # fmt: skip
        assignee = {"login": login, "id": len(self.seats) + 1, "type": "User", **({"email": email} if email else {})}
        self.seats.append({
            "created_at": "2026-09-01T10:00:00Z", "updated_at": "2026-09-01T10:00:00Z",
            "pending_cancellation_date": None,
            "last_activity_at": last_activity_at, "last_activity_editor": "vscode/1.95", "plan_type": plan,
            "assignee": assignee,
        })  # fmt: skip

    def add_usage(self, day: date, login: str, model: str, *, gross: int, net_amount: str, price: str = "0.04") -> None:
        self.usage.append({"day": day, "user": login, "model": model, "gross": gross, "net_amount": net_amount,
                           "price": price})  # fmt: skip

    def check_auth(self, request: RecordedRequest) -> None:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer ") or not secrets.compare_digest(given[7:], self.credential):
            raise EmulatorError(401, "Bad credentials")

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        body = {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}
        return json_reply(body, status)

    def _org(self, org: str) -> None:
        if org.lower() != self.org:
            raise EmulatorError(404, "Not Found")

    def _seats(self, request: RecordedRequest, org: str) -> Reply:
        self._org(org)
        per_page = int_param(request, "per_page", 50, 1, 100)
        page = int_param(request, "page", 1, 1, 10**6)
        chunk = self.seats[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(self.seats):
            base = f"{self.origin}/orgs/{org}/copilot/billing/seats"
            headers["Link"] = f'<{base}?per_page={per_page}&page={page + 1}>; rel="next", <{base}?page=1>; rel="first"'
        return json_reply({"total_seats": len(self.seats), "seats": chunk}, headers=headers)

    def _usage(self, request: RecordedRequest, org: str) -> Reply:
        self._org(org)
        year = int_param(request, "year", date.today().year, 2000, 3000)
        month = int_param(request, "month", date.today().month, 1, 12)
        day = request.query_value("day")
        user, model = request.query_value("user"), request.query_value("model")
        matching = [
            u for u in self.usage
            if (u["day"].year, u["day"].month) == (year, month) and (day is None or u["day"].day == int(day))
            and (user is None or u["user"].lower() == user.lower()) and (model is None or u["model"] == model)
        ]  # fmt: skip
        items: dict[str, dict[str, Any]] = {}
        for u in matching:
            item = items.setdefault(u["model"], {
                "product": "Copilot", "sku": "Copilot Premium Request", "model": u["model"], "unitType": "requests",
                "pricePerUnit": float(u["price"]), "grossQuantity": 0, "grossAmount": 0.0, "discountQuantity": 0,
                "discountAmount": 0.0, "netQuantity": 0, "netAmount": 0.0,
            })  # fmt: skip
            gross = Decimal(u["price"]) * u["gross"]
            net = Decimal(u["net_amount"])
            item["grossQuantity"] += u["gross"]
            item["grossAmount"] = float(Decimal(str(item["grossAmount"])) + gross)
            item["netAmount"] = float(Decimal(str(item["netAmount"])) + net)
            item["discountAmount"] = float(Decimal(str(item["grossAmount"])) - Decimal(str(item["netAmount"])))
            item["netQuantity"] += int(net / Decimal(u["price"])) if Decimal(u["price"]) else 0
            item["discountQuantity"] = item["grossQuantity"] - item["netQuantity"]
        period = {"year": year, "month": month, **({"day": int(day)} if day else {})}
        body = {"timePeriod": period, "organization": org, "usageItems": list(items.values())}
        if user:
            body["user"] = user
        return json_reply(body)
