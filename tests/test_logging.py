"""Logs are one JSON object a line with a request id, and the whole key flow (an admin connects the provider
account, an engineer requests a key, the manager approves, the key is minted at the provider's emulator, the
engineer reveals it) logs neither the key's secret nor the admin credential, even at DEBUG."""

import json
import logging
import re

import pytest
from django.conf import settings
from django.urls import reverse

from allocator.models import Key, KeyRequest, ProviderAccount, ProviderKind
from tests.conftest import login


@pytest.fixture
def json_log_lines():
    """Every log record of the test, formatted by the production JSON formatter, every logger at DEBUG."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    handler.setFormatter(_json_formatter())
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in settings.LOGGING["loggers"])]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    loggers[0].addHandler(handler)
    yield lines
    loggers[0].removeHandler(handler)
    for logger, level in zip(loggers, previous, strict=True):
        logger.setLevel(level)


def _json_formatter() -> logging.Formatter:
    spec = dict(settings.LOGGING["formatters"]["json"])
    factory = spec.pop("()")
    return factory(**spec)


def test_the_key_flow_logs_json_with_request_ids_and_no_secret(
    json_log_lines, admin, engineer, manager, team, openrouter_emulator, eager_celery,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    credential = openrouter_emulator.credential
    connected = login(admin).post(
        reverse("allocator:account_create"),
        {"kind": "openrouter", "name": "OpenRouter", "base_url": openrouter_emulator.url, "credential": credential,
         "enabled": "on"},
    )  # fmt: skip
    assert connected.status_code == 302, connected.content.decode()[:2000]
    account = ProviderAccount.objects.get(kind=ProviderKind.OPENROUTER)
    login(admin).post(reverse("allocator:account_test", args=[account.pk]))

    requester = login(engineer)
    requester.post(
        reverse("allocator:request_create"),
        {"account": account.pk, "owner": "me", "team": team.pk, "name": "laptop", "purpose": "evals",
         "allowance_usd": "500", "submit": "1"},
    )  # fmt: skip
    key_request = KeyRequest.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        login(manager).post(reverse("allocator:request_approve", args=[key_request.pk]))
    key = Key.objects.get(request=key_request)
    revealed = requester.post(reverse("allocator:key_reveal", args=[key.pk]))
    secret = re.search(r'<code id="secret-value">([^<]+)</code>', revealed.content.decode()).group(1)
    assert secret == openrouter_emulator.secrets[key.provider_key_id]

    text = "\n".join(json_log_lines)
    assert secret not in text and credential not in text
    records = [json.loads(line) for line in json_log_lines]  # every line is one JSON object
    finished = [r for r in records if r.get("event") == "request_finished"]
    reveal = [r for r in finished if r.get("request", "").endswith(f"/keys/{key.pk}/reveal/")]
    assert reveal and reveal[0]["request_id"] and reveal[0]["code"] == 200
    assert len({r["request_id"] for r in finished}) == len(finished)  # one id per request
    assert {"timestamp", "level", "logger"} <= set(reveal[0])


def test_a_request_id_sent_by_the_proxy_is_kept_only_when_trusted(json_log_lines, engineer, settings):
    def logged_id():
        json_log_lines.clear()
        login(engineer).get(reverse("home"), headers={"X-Request-ID": "edge-7f3a"})
        records = [json.loads(line) for line in json_log_lines]
        [finished] = [r for r in records if r.get("event") == "request_finished"]
        return finished["request_id"]

    assert logged_id() != "edge-7f3a"  # a client does not choose its own id
    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True  # LOG_TRUST_REQUEST_ID=true behind a proxy
    assert logged_id() == "edge-7f3a"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_mint_task_logs_under_the_request_id_of_the_request_that_sent_it(
    celery_worker, engineer, team, simulated, policy, settings
):
    import time
    from pathlib import Path

    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
    request_id = f"flow-{time.monotonic_ns()}"
    login(engineer).post(
        reverse("allocator:request_create"),
        {"account": simulated.pk, "owner": "me", "team": team.pk, "name": "traced", "purpose": "request ids",
         "allowance_usd": "10", "submit": "1"},
        headers={"X-Request-ID": request_id},
    )  # fmt: skip
    worker_log = Path(settings.RUN_DIR) / "worker.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "task_succeeded" not in _lines_with(worker_log, request_id):
        time.sleep(0.2)
    traced = _lines_with(worker_log, request_id)
    assert "allocator.tasks.mint_key" in traced and "task_succeeded" in traced
    assert KeyRequest.objects.get().state == KeyRequest.State.MINTED


def _lines_with(path, needle: str) -> str:
    return "\n".join(line for line in path.read_text().splitlines() if needle in line)
