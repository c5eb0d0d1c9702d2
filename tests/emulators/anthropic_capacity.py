"""The Anthropic emulator's rate limits (read-only; provider-apis.md §2.5, §8): the organization's limiter groups, and
a workspace's overrides (all limiters with `include_inherited=true`). Entries are `{"type", "group_type", "models",
"limits": [{"type", "value", "org_limit"}]}`, paged with `limit` and `page`/`next_page`."""

from __future__ import annotations

from typing import Any

from tests.emulators.base import (
    EmulatorError,
    RecordedRequest,
    Reply,
    decode_page_token,
    encode_page_token,
    int_param,
    json_reply,
)

ORG = "/v1/organizations"


class RateLimitsMixin:
    """Mixed into AnthropicEmulator (which provides `route` and `lock`)."""

    def install_rate_limits(self) -> None:
        self.org_rate_limits: list[dict[str, Any]] = []
        self.workspace_rate_limits: dict[str, list[dict[str, Any]]] = {}  # workspace -> its overrides
        self.route("GET", ORG + "/rate_limits", self._org_rate_limits)
        self.route("GET", ORG + r"/workspaces/(?P<workspace_id>[^/]+)/rate_limits", self._workspace_rate_limits)

    def add_rate_limit(
        self, models: list[str], limits: dict[str, int], *, workspace_id: str | None = None, group_type="model_group"
    ) -> None:
        """A limiter group: `limits` maps a limiter type (input_tokens_per_minute, …) to its value. At the
        organization `org_limit` equals the value; in a workspace it is the organization's value of that type."""
        with self.lock:
            if workspace_id is None:
                entry = _entry(models, group_type, {t: (v, v) for t, v in limits.items()})
                self.org_rate_limits.append(entry)
            else:
                org = self._org_values(models)
                entry = _entry(models, group_type, {t: (v, org.get(t, v)) for t, v in limits.items()})
                self.workspace_rate_limits.setdefault(workspace_id, []).append(entry)

    def _org_values(self, models: list[str]) -> dict[str, int]:
        for entry in self.org_rate_limits:
            if set(models) <= set(entry["models"]):
                return {limiter["type"]: limiter["value"] for limiter in entry["limits"]}
        return {}

    def _paged(self, request: RecordedRequest, entries: list[dict[str, Any]]) -> Reply:
        limit = int_param(request, "limit", 20, 1, 100)
        token = request.query_value("page")
        start = int(decode_page_token(token)["offset"]) if token else 0
        if model := request.query_value("model"):
            entries = [e for e in entries if model in e["models"]]
        if group_type := request.query_value("group_type"):
            entries = [e for e in entries if e["group_type"] == group_type]
        data, rest = entries[start : start + limit], entries[start + limit :]
        next_page = encode_page_token({"offset": start + limit}) if rest else None
        return json_reply({"data": data, "has_more": next_page is not None, "next_page": next_page})

    def _org_rate_limits(self, request: RecordedRequest) -> Reply:
        return self._paged(request, list(self.org_rate_limits))

    def _workspace_rate_limits(self, request: RecordedRequest, workspace_id: str) -> Reply:
        if not workspace_id.startswith("wrkspc_"):
            raise EmulatorError(404, f"No workspace {workspace_id}")
        overrides = list(self.workspace_rate_limits.get(workspace_id, []))
        if request.query_value("include_inherited") != "true":
            return self._paged(request, overrides)
        overridden = {(tuple(e["models"]), e["group_type"]) for e in overrides}
        inherited = [e for e in self.org_rate_limits if (tuple(e["models"]), e["group_type"]) not in overridden]
        return self._paged(request, overrides + inherited)


def _entry(models: list[str], group_type: str, limits: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {
        "type": "rate_limit",
        "group_type": group_type,
        "models": list(models),
        "limits": [{"type": t, "value": value, "org_limit": org} for t, (value, org) in limits.items()],
    }
