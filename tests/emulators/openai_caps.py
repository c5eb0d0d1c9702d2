"""The OpenAI emulator's project caps (provider-apis.md §1.5 and §8): the monthly hard spend limit in integer cents
with its enforcement status, and the project's model permissions (allow or deny list)."""

from __future__ import annotations

from typing import Any

from tests.emulators.base import EmulatorError, RecordedRequest, Reply, json_reply


class ProjectCapsMixin:
    """Mixed into OpenAIEmulator (which provides `route` and `_project`)."""

    def install_caps(self, project_path: str) -> None:
        self.spend_limits: dict[str, dict[str, Any]] = {}  # project -> spend limit object
        self.model_permissions: dict[str, dict[str, Any]] = {}  # project -> permissions object
        P = project_path  # noqa: N806
        self.route("GET", P + "/spend_limit", self._get_spend_limit)
        self.route("POST", P + "/spend_limit", self._set_spend_limit)
        self.route("DELETE", P + "/spend_limit", self._delete_spend_limit)
        self.route("GET", P + "/model_permissions", self._get_model_permissions)
        self.route("POST", P + "/model_permissions", self._set_model_permissions)
        self.route("DELETE", P + "/model_permissions", self._delete_model_permissions)

    def _get_spend_limit(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        if project_id not in self.spend_limits:
            raise EmulatorError(404, f"No spend limit set for project {project_id}")
        return json_reply(self.spend_limits[project_id])

    def _set_spend_limit(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        body = request.json
        if not isinstance(body, dict):
            raise EmulatorError(400, "Expected a JSON body")
        amount = body.get("threshold_amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise EmulatorError(400, "'threshold_amount' must be a non-negative integer (cents)", "invalid_value")
        if body.get("interval", "month") != "month":
            raise EmulatorError(400, "Invalid 'interval': only 'month' is supported", "invalid_value")
        if str(body.get("currency", "USD")).upper() != "USD":
            raise EmulatorError(400, "Invalid 'currency'", "invalid_value")
        self.spend_limits[project_id] = {
            "object": "project.spend_limit",
            "threshold_amount": amount,
            "currency": "USD",
            "interval": "month",
            "enforcement": {"status": "enforcing"},
        }
        return json_reply(self.spend_limits[project_id])

    def _delete_spend_limit(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        if self.spend_limits.pop(project_id, None) is None:
            raise EmulatorError(404, f"No spend limit set for project {project_id}")
        return json_reply({"object": "project.spend_limit.deleted", "deleted": True})

    def _get_model_permissions(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        default = {"object": "project.model_permissions", "mode": "deny_list", "model_ids": []}
        return json_reply(self.model_permissions.get(project_id, default))

    def _set_model_permissions(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        body = request.json
        if not isinstance(body, dict) or body.get("mode") not in ("allow_list", "deny_list"):
            raise EmulatorError(400, "'mode' must be 'allow_list' or 'deny_list'", "invalid_value")
        models = body.get("model_ids")
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise EmulatorError(400, "'model_ids' must be a list of model ids", "invalid_value")
        self.model_permissions[project_id] = {
            "object": "project.model_permissions", "mode": body["mode"], "model_ids": models,
        }  # fmt: skip
        return json_reply(self.model_permissions[project_id])

    def _delete_model_permissions(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        self.model_permissions.pop(project_id, None)
        return json_reply({"object": "project.model_permissions.deleted", "deleted": True})
