"""Loopback HTTP emulators of the provider APIs in docs/design/provider-apis.md.

Each emulator is a real HTTP server on 127.0.0.1 (random port) with in-memory state, so adapters are
tested over the wire without mocks. Fixtures live in `tests.emulators.fixtures`.
"""

from tests.emulators.base import EmulatorError, RecordedRequest, Reply

__all__ = ["EmulatorError", "RecordedRequest", "Reply"]
