"""Emulator of the OpenAI Administration API (provider-apis.md section 1).

Seed state with `add_project`, `add_key`, `add_usage` and `add_cost`; service accounts are created
through the API (or `add_service_account`). Object lists page with `limit`/`after`/`has_more`/`last_id`;
usage and cost pages with an opaque `page`/`next_page` token, `limit` counting buckets.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.emulators.base import (
    BUCKET_LIMITS,
    BUCKET_SECONDS,
    Emulator,
    EmulatorError,
    RecordedRequest,
    Reply,
    as_timestamp,
    bucket_page,
    int_param,
    json_reply,
)
from tests.emulators.openai_capacity import ProjectRateLimitsMixin
from tests.emulators.openai_caps import ProjectCapsMixin

USAGE_KINDS = (
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
    "file_search_calls",
    "web_search_calls",
)
COMPLETIONS_GROUPS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
OTHER_GROUPS = ("project_id", "user_id", "api_key_id", "model")
COMPLETIONS_COUNTS = (
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "num_model_requests",
)
EMBEDDINGS_COUNTS = ("input_tokens", "num_model_requests")
COST_GROUPS = ("project_id", "line_item", "api_key_id")

P = r"/v1/organization/projects/(?P<project_id>[^/]+)"


def _redact(value: str) -> str:
    return f"{value[:6]}...{value[-4:]}"


class OpenAIEmulator(ProjectCapsMixin, ProjectRateLimitsMixin, Emulator):
    base_path = "/v1"
    credential = "sk-admin-emulator-0123456789"
    name = "openai-emulator"

    def __init__(self, credential: str | None = None) -> None:
        super().__init__(credential)
        self._ids = itertools.count(1)
        self.projects: dict[str, dict[str, Any]] = {}
        self.api_keys: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # project -> key id -> key
        self.service_accounts: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.secrets: dict[str, str] = {}  # key id -> full secret (only for keys minted via service accounts)
        self.usage: list[dict[str, Any]] = []
        self.costs: list[dict[str, Any]] = []
        self.install_caps(P)
        self.install_rate_limits(P)

        self.route("GET", r"/v1/organization/projects", self._list_projects)
        self.route("POST", r"/v1/organization/projects", self._create_project)
        self.route("GET", P, self._get_project)
        self.route("POST", P + "/archive", self._archive_project)
        self.route("GET", P + "/api_keys", self._list_keys)
        self.route("GET", P + r"/api_keys/(?P<key_id>[^/]+)", self._get_key)
        self.route("DELETE", P + r"/api_keys/(?P<key_id>[^/]+)", self._delete_key)
        self.route("GET", P + "/service_accounts", self._list_service_accounts)
        self.route("POST", P + "/service_accounts", self._create_service_account)
        self.route("GET", P + r"/service_accounts/(?P<sa_id>[^/]+)", self._get_service_account)
        self.route("DELETE", P + r"/service_accounts/(?P<sa_id>[^/]+)", self._delete_service_account)
        self.route("GET", r"/v1/organization/usage/(?P<kind>[a-z_]+)", self._usage)
        self.route("GET", r"/v1/organization/costs", self._costs)

    # --- seeding helpers ------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    def add_project(
        self, name: str = "Default project", *, project_id: str | None = None, status: str = "active"
    ) -> str:
        """Create a project; returns its id."""
        project_id = project_id or self._new_id("proj_")
        with self.lock:
            self.projects[project_id] = {
                "id": project_id,
                "object": "organization.project",
                "name": name,
                "created_at": int(time.time()),
                "archived_at": int(time.time()) if status == "archived" else None,
                "status": status,
            }
        return project_id

    def add_key(
        self,
        project_id: str,
        name: str = "Secret key",
        *,
        key_id: str | None = None,
        owner_type: str = "user",
        owner_project_access: str = "active",
        redacted_value: str | None = None,
        created_at: datetime | int | None = None,
        service_account_id: str | None = None,
    ) -> dict[str, Any]:
        """Add a project API key (user-owned unless owner_type="service_account"); returns the key object."""
        key_id = key_id or self._new_id("key_")
        created = as_timestamp(created_at) if created_at is not None else int(time.time())
        if owner_type == "service_account":
            sa_id = service_account_id or self._new_id("svc_acct_")
            owner = {
                "type": "service_account",
                "service_account": {
                    "object": "organization.project.service_account",
                    "id": sa_id,
                    "name": name,
                    "role": "member",
                    "created_at": created,
                },
            }
            with self.lock:
                self.service_accounts[project_id].setdefault(sa_id, {**owner["service_account"]})
        else:
            owner = {
                "type": "user",
                "user": {
                    "object": "organization.user",
                    "id": f"user_{key_id}",
                    "name": "Emulated User",
                    "email": "user@example.com",
                    "role": "owner",
                    "added_at": created,
                },
            }
        key = {
            "object": "organization.project.api_key",
            "id": key_id,
            "name": name,
            "redacted_value": redacted_value or f"sk-...{secrets.token_hex(2)}",
            "created_at": created,
            "last_used_at": None,
            "owner_project_access": owner_project_access,
            "owner": owner,
        }
        with self.lock:
            if project_id not in self.projects:
                self.add_project(project_id=project_id, name=project_id)
            self.api_keys[project_id][key_id] = key
        return key

    def add_service_account(self, project_id: str, name: str) -> dict[str, Any]:
        """Create a service account with a key as POST would; returns the creation response."""
        with self.lock:
            return self._make_service_account(project_id, name, key_too=True)

    def add_usage(
        self,
        bucket_start: datetime | int,
        *,
        api_key_id: str | None = None,
        model: str | None = None,
        project_id: str | None = None,
        kind: str = "completions",
        user_id: str | None = None,
        batch: bool | None = None,
        service_tier: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        input_cached_tokens: int = 0,
        input_cache_write_tokens: int = 0,
        num_model_requests: int = 0,
    ) -> None:
        """Record usage at a moment (it lands in whichever bucket contains it).

        `input_tokens` is the total input, including cached and cache-write tokens, as OpenAI reports it.
        """
        if kind not in USAGE_KINDS:
            raise ValueError(f"unknown usage kind {kind}")
        with self.lock:
            self.usage.append(
                {
                    "kind": kind,
                    "ts": as_timestamp(bucket_start),
                    "dims": {
                        "project_id": project_id,
                        "user_id": user_id,
                        "api_key_id": api_key_id,
                        "model": model,
                        "batch": batch,
                        "service_tier": service_tier,
                    },
                    "counts": {
                        "input_tokens": input_tokens,
                        "output_tokens": output_tokens,
                        "input_cached_tokens": input_cached_tokens,
                        "input_cache_write_tokens": input_cache_write_tokens,
                        "num_model_requests": num_model_requests,
                    },
                }
            )

    def add_cost(
        self,
        day: datetime | int,
        amount_usd: float | str | Decimal,
        *,
        project_id: str | None = None,
        line_item: str | None = None,
        api_key_id: str | None = None,
        quantity: float | None = None,
    ) -> None:
        """Record billed cost (dollars) on a day. With `api_key_id` it is the key's cost (grouping by key reports
        it); without, it is cost no key carries (reported with api_key_id null)."""
        with self.lock:
            self.costs.append(
                {
                    "ts": as_timestamp(day),
                    "amount": Decimal(str(amount_usd)),
                    "quantity": quantity,
                    "dims": {"project_id": project_id, "line_item": line_item, "api_key_id": api_key_id},
                }
            )

    def keys_of(self, project_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.api_keys[project_id].values())

    # --- protocol -------------------------------------------------------------------------------------
    def check_auth(self, request: RecordedRequest) -> None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[len("Bearer ") :]:
            raise EmulatorError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        given = header[len("Bearer ") :]
        if not secrets.compare_digest(given, self.credential):
            # Like the real API, echo a redacted form of the key.
            raise EmulatorError(401, f"Incorrect API key provided: {_redact(given)}.", "invalid_api_key")

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        if code == "insufficient_quota":
            error_type = "insufficient_quota"
        elif status == 429:
            error_type, code = "requests", code or "rate_limit_exceeded"
        elif status >= 500:
            error_type = "server_error"
        else:
            error_type = "invalid_request_error"
        return json_reply({"error": {"message": message, "type": error_type, "param": None, "code": code}}, status)

    # --- lists ----------------------------------------------------------------------------------------
    def _page(self, request: RecordedRequest, items: list[dict[str, Any]]) -> Reply:
        limit = int_param(request, "limit", 20, 1, 100)
        after = request.query_value("after")
        start = 0
        if after:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise EmulatorError(400, f"Invalid 'after': no object with id {after}")
            start = ids.index(after) + 1
        data = items[start : start + limit]
        return json_reply(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": start + limit < len(items),
            }
        )

    def _project(self, project_id: str) -> dict[str, Any]:
        project = self.projects.get(project_id)
        if project is None:
            raise EmulatorError(404, f"No such project: {project_id}")
        return project

    def _list_projects(self, request: RecordedRequest) -> Reply:
        include_archived = request.query_value("include_archived", "false") == "true"
        items = [p for p in self.projects.values() if include_archived or p["status"] != "archived"]
        return self._page(request, items)

    def _create_project(self, request: RecordedRequest) -> Reply:
        body = request.json or {}
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise EmulatorError(400, "'name' is required")
        return json_reply(self.projects[self.add_project(body["name"])])

    def _get_project(self, request: RecordedRequest, project_id: str) -> Reply:
        return json_reply(self._project(project_id))

    def _archive_project(self, request: RecordedRequest, project_id: str) -> Reply:
        project = self._project(project_id)
        project.update(status="archived", archived_at=int(time.time()))
        return json_reply(project)

    # --- API keys -------------------------------------------------------------------------------------
    def _list_keys(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        # The default for owner_project_access is not documented; the emulator takes the strict reading
        # ("active") so adapters that want every key must ask for "any".
        access = request.query_value("owner_project_access", "active")
        if access not in ("active", "inactive", "any"):
            raise EmulatorError(400, "Invalid 'owner_project_access'")
        items = [k for k in self.api_keys[project_id].values() if access in ("any", k["owner_project_access"])]
        return self._page(request, items)

    def _key(self, project_id: str, key_id: str) -> dict[str, Any]:
        self._project(project_id)
        key = self.api_keys[project_id].get(key_id)
        if key is None:
            raise EmulatorError(404, f"No such API key: {key_id}")
        return key

    def _get_key(self, request: RecordedRequest, project_id: str, key_id: str) -> Reply:
        return json_reply(self._key(project_id, key_id))

    def _delete_key(self, request: RecordedRequest, project_id: str, key_id: str) -> Reply:
        key = self._key(project_id, key_id)
        if key["owner"]["type"] == "service_account":
            raise EmulatorError(400, "API keys owned by a service account cannot be deleted; delete the account")
        del self.api_keys[project_id][key_id]
        return json_reply({"object": "organization.project.api_key.deleted", "id": key_id, "deleted": True})

    # --- service accounts -----------------------------------------------------------------------------
    def _make_service_account(self, project_id: str, name: str, *, key_too: bool) -> dict[str, Any]:
        project = self._project(project_id)
        if project["status"] == "archived":
            raise EmulatorError(400, f"Project {project_id} is archived")
        now = int(time.time())
        sa_id = self._new_id("svc_acct_")
        account = {
            "object": "organization.project.service_account",
            "id": sa_id,
            "name": name,
            "role": "member" if key_too else "none",
            "created_at": now,
        }
        self.service_accounts[project_id][sa_id] = account
        api_key = None
        if key_too:
            value = "sk-svcacct-" + secrets.token_urlsafe(36)
            key = self.add_key(project_id, name="Secret Key", owner_type="service_account", service_account_id=sa_id)
            key["redacted_value"] = _redact(value)
            key["owner"]["service_account"]["name"] = name
            self.secrets[key["id"]] = value
            api_key = {
                "object": "organization.project.service_account.api_key",
                "id": key["id"],
                "name": "Secret Key",
                "value": value,
                "created_at": now,
            }
        return {**account, "api_key": api_key}

    def _list_service_accounts(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        return self._page(request, list(self.service_accounts[project_id].values()))

    def _create_service_account(self, request: RecordedRequest, project_id: str) -> Reply:
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise EmulatorError(400, "'name' is required", "missing_required_parameter")
        only = bool(body.get("create_service_account_only", False))
        return json_reply(self._make_service_account(project_id, body["name"], key_too=not only))

    def _service_account(self, project_id: str, sa_id: str) -> dict[str, Any]:
        self._project(project_id)
        account = self.service_accounts[project_id].get(sa_id)
        if account is None:
            raise EmulatorError(404, f"No such service account: {sa_id}")
        return account

    def _get_service_account(self, request: RecordedRequest, project_id: str, sa_id: str) -> Reply:
        return json_reply(self._service_account(project_id, sa_id))

    def _delete_service_account(self, request: RecordedRequest, project_id: str, sa_id: str) -> Reply:
        self._service_account(project_id, sa_id)
        del self.service_accounts[project_id][sa_id]
        keys = self.api_keys[project_id]
        for key_id in [k for k, v in keys.items() if v["owner"].get("service_account", {}).get("id") == sa_id]:
            del keys[key_id]
        return json_reply({"object": "organization.project.service_account.deleted", "id": sa_id, "deleted": True})

    # --- usage and costs ------------------------------------------------------------------------------
    def _buckets(
        self, request: RecordedRequest, widths: tuple[str, ...], limits: dict[str, tuple[int, int]]
    ) -> tuple[int, int, int, list[int], str | None]:
        """Parse the time window and page; return (start, end, width s, bucket starts, next token)."""
        raw_start = request.query_value("start_time")
        if raw_start is None:
            raise EmulatorError(400, "Missing required parameter: 'start_time'", "missing_required_parameter")
        try:
            start = int(raw_start)
            end = int(request.query_value("end_time") or time.time())
        except ValueError as e:
            raise EmulatorError(400, "start_time and end_time must be integers (unix seconds)") from e
        width_name = request.query_value("bucket_width", "1d")
        if width_name not in widths:
            raise EmulatorError(400, f"Invalid 'bucket_width': {width_name}")
        width = BUCKET_SECONDS[width_name]
        default, high = limits[width_name]
        limit = int_param(request, "limit", default, 1, high)
        page, next_token = bucket_page(start, end, width, limit, request.query_value("page"))
        return start, end, width, page, next_token

    def _usage(self, request: RecordedRequest, kind: str) -> Reply:
        if kind not in USAGE_KINDS:
            raise EmulatorError(404, f"Unknown usage type {kind}")
        allowed = COMPLETIONS_GROUPS if kind == "completions" else OTHER_GROUPS
        counts = COMPLETIONS_COUNTS if kind == "completions" else EMBEDDINGS_COUNTS
        group_by = request.query_list("group_by")
        for dim in group_by:
            if dim not in allowed:
                raise EmulatorError(400, f"Invalid 'group_by' value: {dim}")
        filters = {
            "project_id": request.query_list("project_ids"),
            "user_id": request.query_list("user_ids"),
            "api_key_id": request.query_list("api_key_ids"),
            "model": request.query_list("models"),
        }
        start, end, width, starts, next_token = self._buckets(request, ("1m", "1h", "1d"), BUCKET_LIMITS)
        records = [
            r
            for r in self.usage
            if r["kind"] == kind
            and start <= r["ts"] < end
            and all(not values or r["dims"][dim] in values for dim, values in filters.items())
        ]
        data = []
        for bucket in starts:
            groups: dict[tuple, dict[str, int]] = {}
            for r in records:
                if bucket <= r["ts"] < bucket + width:
                    group = tuple(r["dims"][dim] if dim in group_by else None for dim in allowed)
                    totals = groups.setdefault(group, dict.fromkeys(counts, 0))
                    for name in counts:
                        totals[name] += r["counts"][name]
            results = [
                {
                    "object": f"organization.usage.{kind}.result",
                    **totals,
                    **dict(zip(allowed, group, strict=True)),
                }
                for group, totals in sorted(groups.items(), key=lambda item: repr(item[0]))
            ]
            data.append({"object": "bucket", "start_time": bucket, "end_time": bucket + width, "results": results})
        return json_reply({"object": "page", "data": data, "has_more": next_token is not None, "next_page": next_token})

    def _costs(self, request: RecordedRequest) -> Reply:
        group_by = request.query_list("group_by")
        for dim in group_by:
            if dim not in COST_GROUPS:
                raise EmulatorError(400, f"Invalid 'group_by' value: {dim}")
        filters = {
            "project_id": request.query_list("project_ids"),
            "api_key_id": request.query_list("api_key_ids"),
        }
        start, end, width, starts, next_token = self._buckets(request, ("1d",), {"1d": (7, 180)})
        records = [
            r
            for r in self.costs
            if start <= r["ts"] < end and all(not v or r["dims"][dim] in v for dim, v in filters.items())
        ]
        data = []
        for bucket in starts:
            groups: dict[tuple, Decimal] = {}
            quantities: dict[tuple, float | None] = {}
            for r in records:
                if bucket <= r["ts"] < bucket + width:
                    group = tuple(r["dims"][dim] if dim in group_by else None for dim in COST_GROUPS)
                    groups[group] = groups.get(group, Decimal(0)) + r["amount"]
                    if r["quantity"] is not None:
                        quantities[group] = (quantities.get(group) or 0) + r["quantity"]
            # As in the SDK's cost result type: `quantity` (null when unknown), no `quantity_unit` (§8).
            results = [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": float(amount), "currency": "usd"},
                    "quantity": quantities.get(group),
                    **dict(zip(COST_GROUPS, group, strict=True)),
                }
                for group, amount in sorted(groups.items(), key=lambda item: repr(item[0]))
            ]
            data.append({"object": "bucket", "start_time": bucket, "end_time": bucket + width, "results": results})
        return json_reply({"object": "page", "data": data, "has_more": next_token is not None, "next_page": next_token})
