"""The OpenAI emulator's project rate limits (provider-apis.md §1.4, §8): one object per project × model, listed with
`limit`/`after`/`has_more` like the other object lists."""

from __future__ import annotations

from typing import Any

from tests.emulators.base import RecordedRequest, Reply

RATE_LIMIT_FIELDS = (
    "max_requests_per_1_minute",
    "max_tokens_per_1_minute",
    "max_images_per_1_minute",
    "max_audio_megabytes_per_1_minute",
    "max_requests_per_1_day",
    "batch_1_day_max_input_tokens",
)


class ProjectRateLimitsMixin:
    """Mixed into OpenAIEmulator (which provides `route`, `_project` and `_page`)."""

    def install_rate_limits(self, project_path: str) -> None:
        self.rate_limits: dict[str, list[dict[str, Any]]] = {}  # project -> rate limit objects
        self.route("GET", project_path + "/rate_limits", self._list_rate_limits)

    def add_rate_limit(self, project_id: str, model: str, **fields: int) -> dict[str, Any]:
        """A project's limits of one model; `max_requests_per_1_minute` and `max_tokens_per_1_minute` are always
        there (given or a default), the other fields only when given."""
        unknown = set(fields) - set(RATE_LIMIT_FIELDS)
        if unknown:
            raise ValueError(f"unknown rate limit fields {unknown}")
        item = {
            "object": "project.rate_limit",
            "id": f"rl_{model}",
            "model": model,
            "max_requests_per_1_minute": 500,
            "max_tokens_per_1_minute": 200_000,
            **fields,
        }
        with self.lock:
            self.rate_limits.setdefault(project_id, []).append(item)
        return item

    def _list_rate_limits(self, request: RecordedRequest, project_id: str) -> Reply:
        self._project(project_id)
        return self._page(request, list(self.rate_limits.get(project_id, [])))
