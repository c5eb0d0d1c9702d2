"""localstripe as a pytest fixture: one server process per test session on a free loopback port, emptied
before each test (`localstripe` fixture). Settings point the stripe SDK at it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SERVER = Path(__file__).with_name("localstripe_server.py")
API_KEY = "sk_test_localstripe"


class LocalStripe:
    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"localstripe did not start: {self.process.stderr.read().decode()[-2000:]}")
            try:
                httpx.post(f"{self.url}/_test/reset", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("localstripe did not answer within 20 s")

    def reset(self) -> None:
        httpx.post(f"{self.url}/_test/reset", auth=(API_KEY, ""), timeout=5).raise_for_status()

    def get(self, path: str, **params) -> dict:
        response = httpx.get(f"{self.url}{path}", params=params, auth=(API_KEY, ""), timeout=5)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="session")
def _localstripe_server() -> Iterator[LocalStripe]:
    server = LocalStripe()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def localstripe(_localstripe_server: LocalStripe, settings) -> LocalStripe:
    """A running, empty localstripe with the stripe SDK's settings pointed at it."""
    _localstripe_server.reset()
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = _localstripe_server.url
    return _localstripe_server
