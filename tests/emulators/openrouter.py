"""Emulator of OpenRouter's key management API (provider-apis.md section 3).

Seed state with `add_key`, `set_key_usage`, `add_activity` and `set_credits`; keys made through
POST /keys get a real-looking secret whose SHA-256 is the key `hash`. GET /keys pages by `offset`
(100 per page, newest first) and hides disabled keys unless `include_disabled=true`. GET /activity only
serves the last 30 completed UTC days.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.emulators.base import Emulator, EmulatorError, RecordedRequest, Reply, int_param, json_reply
from tests.emulators.openrouter_caps import GuardrailsMixin

PAGE_SIZE = 100
ACTIVITY_DAYS = 30
LIMIT_RESETS = (None, "daily", "weekly", "monthly")
ACTIVITY_SUMS = (
    "usage",
    "byok_usage_inference",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money(value: Any) -> float:
    return float(Decimal(str(value)))


class OpenRouterEmulator(GuardrailsMixin, Emulator):
    base_path = "/api/v1"
    credential = "sk-or-v1-management-emulator-0123456789"
    name = "openrouter-emulator"

    def __init__(self, credential: str | None = None) -> None:
        super().__init__(credential)
        self._seq = itertools.count(1)
        self.keys: dict[str, dict[str, Any]] = {}  # hash -> key object (plus a private "_seq")
        self.secrets: dict[str, str] = {}  # hash -> full secret
        self.activity: list[dict[str, Any]] = []
        self.credits = {"total_credits": 100.0, "total_usage": 0.0}

        self.route("GET", r"/api/v1/keys", self._list_keys)
        self.route("POST", r"/api/v1/keys", self._create_key)
        self.route("GET", r"/api/v1/keys/(?P<key_hash>[0-9a-f]+)", self._get_key)
        self.route("PATCH", r"/api/v1/keys/(?P<key_hash>[0-9a-f]+)", self._update_key)
        self.route("DELETE", r"/api/v1/keys/(?P<key_hash>[0-9a-f]+)", self._delete_key)
        self.route("GET", r"/api/v1/credits", lambda request: json_reply({"data": dict(self.credits)}))
        self.route("GET", r"/api/v1/activity", self._activity)
        self.install_caps()

    # --- seeding helpers ------------------------------------------------------------------------------
    def add_key(
        self,
        name: str = "key",
        *,
        disabled: bool = False,
        limit: float | str | Decimal | None = None,
        limit_reset: str | None = None,
        usage: float | str | Decimal = 0,
        usage_daily: float | str | Decimal = 0,
        usage_weekly: float | str | Decimal = 0,
        usage_monthly: float | str | Decimal = 0,
        created_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Add a key; returns its public object (the secret is in `secrets[obj["hash"]]`)."""
        secret = "sk-or-v1-" + secrets.token_hex(32)
        key_hash = hashlib.sha256(secret.encode()).hexdigest()
        created = _iso(created_at or datetime.now(UTC))
        key = {
            "hash": key_hash,
            "name": name,
            "label": f"sk-or-v1-{secret[9:12]}...{secret[-4:]}",
            "disabled": disabled,
            "limit": None if limit is None else _money(limit),
            "limit_remaining": None,
            "limit_reset": limit_reset,
            "include_byok_in_limit": False,
            "usage": _money(usage),
            "usage_daily": _money(usage_daily),
            "usage_weekly": _money(usage_weekly),
            "usage_monthly": _money(usage_monthly),
            "byok_usage": 0.0,
            "byok_usage_daily": 0.0,
            "byok_usage_weekly": 0.0,
            "byok_usage_monthly": 0.0,
            "created_at": created,
            "updated_at": None,
            "expires_at": _iso(expires_at) if expires_at else None,
            "workspace_id": None,
            "creator_user_id": None,
        }
        self._refresh_remaining(key)
        with self.lock:
            self.keys[key_hash] = {**key, "_seq": next(self._seq)}
            self.secrets[key_hash] = secret
        return key

    def set_key_usage(
        self,
        key_hash: str,
        *,
        usage: float | str | Decimal | None = None,
        usage_daily: float | str | Decimal | None = None,
        usage_weekly: float | str | Decimal | None = None,
        usage_monthly: float | str | Decimal | None = None,
    ) -> None:
        """Overwrite a key's running usage figures (USD)."""
        with self.lock:
            key = self.keys[key_hash]
            for field, value in (
                ("usage", usage),
                ("usage_daily", usage_daily),
                ("usage_weekly", usage_weekly),
                ("usage_monthly", usage_monthly),
            ):
                if value is not None:
                    key[field] = _money(value)
            self._refresh_remaining(key)

    def add_activity(
        self,
        day: date | datetime | str,
        *,
        api_key_hash: str,
        model: str,
        usage: float | str | Decimal = 0,
        requests: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        reasoning_tokens: int = 0,
        endpoint_id: str | None = None,
        provider_name: str = "OpenAI",
        byok_usage_inference: float | str | Decimal = 0,
    ) -> None:
        """Record a day × key × model × endpoint activity row (what GET /activity aggregates)."""
        if isinstance(day, datetime):
            day = day.astimezone(UTC).date()
        day_text = day if isinstance(day, str) else day.isoformat()
        with self.lock:
            self.activity.append(
                {
                    "date": day_text,
                    "api_key_hash": api_key_hash,
                    "model": model,
                    "model_permaslug": model,
                    "endpoint_id": endpoint_id or f"ep_{model.replace('/', '_')}",
                    "provider_name": provider_name,
                    "usage": Decimal(str(usage)),
                    "byok_usage_inference": Decimal(str(byok_usage_inference)),
                    "requests": requests,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "reasoning_tokens": reasoning_tokens,
                }
            )

    def set_credits(self, total_credits: float, total_usage: float) -> None:
        with self.lock:
            self.credits = {"total_credits": float(total_credits), "total_usage": float(total_usage)}

    def key(self, key_hash: str) -> dict[str, Any]:
        """The public object of a stored key (KeyError if deleted)."""
        with self.lock:
            return self._public(self.keys[key_hash])

    # --- protocol -------------------------------------------------------------------------------------
    def check_auth(self, request: RecordedRequest) -> None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[len("Bearer ") :]:
            raise EmulatorError(401, "No auth credentials found")
        if not secrets.compare_digest(header[len("Bearer ") :], self.credential):
            raise EmulatorError(401, "Invalid management key")

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        return json_reply({"error": {"code": status, "message": message}}, status)

    def fault_message(self, status: int) -> str:
        if status == 402:
            return "Insufficient credits. Add more using https://openrouter.ai/credits"
        return super().fault_message(status)

    # --- keys -----------------------------------------------------------------------------------------
    @staticmethod
    def _public(key: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in key.items() if not k.startswith("_")}

    @staticmethod
    def _refresh_remaining(key: dict[str, Any]) -> None:
        if key["limit"] is None:
            key["limit_remaining"] = None
        else:
            key["limit_remaining"] = max(0.0, _money(Decimal(str(key["limit"])) - Decimal(str(key["usage"]))))

    def _key(self, key_hash: str) -> dict[str, Any]:
        key = self.keys.get(key_hash)
        if key is None:
            raise EmulatorError(404, "Key not found")
        return key

    def _list_keys(self, request: RecordedRequest) -> Reply:
        offset = int_param(request, "offset", 0, 0, 10**9)
        include_disabled = request.query_value("include_disabled", "false") == "true"
        workspace_id = request.query_value("workspace_id")
        items = sorted(self.keys.values(), key=lambda k: k["_seq"], reverse=True)  # newest first
        items = [
            k
            for k in items
            if (include_disabled or not k["disabled"]) and (workspace_id is None or k["workspace_id"] == workspace_id)
        ]
        return json_reply({"data": [self._public(k) for k in items[offset : offset + PAGE_SIZE]]})

    @staticmethod
    def _validate(body: dict[str, Any]) -> None:
        limit = body.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0):
            raise EmulatorError(400, "limit must be a non-negative number or null")
        if body.get("limit_reset") not in LIMIT_RESETS:
            raise EmulatorError(400, "limit_reset must be daily, weekly, monthly or null")
        if "disabled" in body and not isinstance(body["disabled"], bool):
            raise EmulatorError(400, "disabled must be a boolean")
        if "include_byok_in_limit" in body and not isinstance(body["include_byok_in_limit"], bool):
            raise EmulatorError(400, "include_byok_in_limit must be a boolean")

    def _create_key(self, request: RecordedRequest) -> Reply:
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise EmulatorError(400, "name is required")
        self._validate(body)
        expires_at = None
        if body.get("expires_at") is not None:
            try:
                expires_at = datetime.fromisoformat(body["expires_at"])
            except (TypeError, ValueError) as e:
                raise EmulatorError(400, "expires_at must be an ISO 8601 date-time") from e
            if expires_at.tzinfo is None:
                raise EmulatorError(400, "expires_at must include a UTC offset")
            if expires_at <= datetime.now(UTC):
                raise EmulatorError(400, "expires_at must be in the future")
        key = self.add_key(
            body["name"], limit=body.get("limit"), limit_reset=body.get("limit_reset"), expires_at=expires_at
        )
        stored = self.keys[key["hash"]]
        stored["include_byok_in_limit"] = bool(body.get("include_byok_in_limit", False))
        return json_reply({"key": self.secrets[key["hash"]], "data": self._public(stored)}, 201)

    def _get_key(self, request: RecordedRequest, key_hash: str) -> Reply:
        return json_reply({"data": self._public(self._key(key_hash))})

    def _update_key(self, request: RecordedRequest, key_hash: str) -> Reply:
        key = self._key(key_hash)
        body = request.json
        allowed = {"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"}
        if not isinstance(body, dict) or not body or set(body) - allowed:
            raise EmulatorError(400, f"Body must hold some of: {', '.join(sorted(allowed))}")
        self._validate(body)
        for field in allowed & set(body):
            key[field] = _money(body[field]) if field == "limit" and body[field] is not None else body[field]
        key["updated_at"] = _iso(datetime.now(UTC))
        self._refresh_remaining(key)
        return json_reply({"data": self._public(key)})

    def _delete_key(self, request: RecordedRequest, key_hash: str) -> Reply:
        self._key(key_hash)
        del self.keys[key_hash]
        return json_reply({"deleted": True})

    # --- activity -------------------------------------------------------------------------------------
    def _activity(self, request: RecordedRequest) -> Reply:
        today = datetime.now(UTC).date()
        first = today - timedelta(days=ACTIVITY_DAYS)
        wanted = request.query_value("date")
        if wanted is not None:
            try:
                wanted_day = date.fromisoformat(wanted)
            except ValueError as e:
                raise EmulatorError(400, "date must be YYYY-MM-DD") from e
            if not first <= wanted_day < today:
                raise EmulatorError(400, "date must be within the last 30 completed UTC days")
        key_hash = request.query_value("api_key_hash")
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in self.activity:
            day = date.fromisoformat(r["date"])
            if not first <= day < today or (wanted is not None and r["date"] != wanted):
                continue
            if key_hash is not None and r["api_key_hash"] != key_hash:
                continue
            group = groups.setdefault(
                (r["date"], r["model"], r["endpoint_id"]),
                {
                    "date": r["date"],
                    "model": r["model"],
                    "model_permaslug": r["model_permaslug"],
                    "endpoint_id": r["endpoint_id"],
                    "provider_name": r["provider_name"],
                    "usage": Decimal(0),
                    "byok_usage_inference": Decimal(0),
                    "requests": 0,
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "reasoning_tokens": 0,
                },
            )
            for name in ACTIVITY_SUMS:
                group[name] += r[name]
        data = [
            {**g, "usage": float(g["usage"]), "byok_usage_inference": float(g["byok_usage_inference"])}
            for _, g in sorted(groups.items())
        ]
        return json_reply({"data": data})
