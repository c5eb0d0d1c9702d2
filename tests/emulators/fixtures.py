"""Pytest fixtures: one fresh, running emulator per test (`pytest_plugins = ["tests.emulators.fixtures"]`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.coding_tools import ClaudeCodeEmulator, CopilotEmulator
from tests.emulators.cursor import CursorEmulator
from tests.emulators.openai import OpenAIEmulator
from tests.emulators.openrouter import OpenRouterEmulator
from tests.emulators.slack import SlackEmulator
from tests.emulators.webhook_receiver import WebhookReceiver


@pytest.fixture
def openai_emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator() as emulator:
        yield emulator


@pytest.fixture
def anthropic_emulator() -> Iterator[AnthropicEmulator]:
    with AnthropicEmulator() as emulator:
        yield emulator


@pytest.fixture
def openrouter_emulator() -> Iterator[OpenRouterEmulator]:
    with OpenRouterEmulator() as emulator:
        yield emulator


@pytest.fixture
def slack_emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as emulator:
        yield emulator


@pytest.fixture
def claude_code_emulator() -> Iterator[ClaudeCodeEmulator]:
    with ClaudeCodeEmulator() as emulator:
        yield emulator


@pytest.fixture
def copilot_emulator() -> Iterator[CopilotEmulator]:
    with CopilotEmulator() as emulator:
        yield emulator


@pytest.fixture
def cursor_emulator() -> Iterator[CursorEmulator]:
    with CursorEmulator() as emulator:
        yield emulator
