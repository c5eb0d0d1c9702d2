"""Run the whole suite at one fixed instant: `ALLOCATOR_TEST_NOW=2026-12-31T23:30:00Z pytest`.

Each test (with its fixtures) starts at that instant and the clock then ticks on, so a test that depends on the
hour, day or quarter shows up by failing at the instants that matter (just after midnight UTC, the last hour of a
fiscal quarter, either side of the hour). Tests marked `celery_worker` or `browser`, and any test using a live
server, talk to another process that keeps the real clock, so they run unfaked (the header says so).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
import time_machine

VARIABLE = "ALLOCATOR_TEST_NOW"
REAL_CLOCK_MARKERS = ("celery_worker", "browser")
REAL_CLOCK_FIXTURES = ("celery_worker", "live_server")


def fixed_instant() -> datetime | None:
    """The instant from the environment (ISO 8601; no offset means UTC), or None when the variable is unset."""
    raw = os.environ.get(VARIABLE, "").strip()
    if not raw:
        return None
    try:
        instant = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as error:
        raise pytest.UsageError(f"{VARIABLE}={raw!r} is not an ISO 8601 instant like 2026-12-31T23:30:00Z") from error
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def keeps_real_clock(item: pytest.Item) -> bool:
    if any(item.get_closest_marker(name) for name in REAL_CLOCK_MARKERS):
        return True
    return any(name in getattr(item, "fixturenames", ()) for name in REAL_CLOCK_FIXTURES)


def pytest_report_header(config: pytest.Config) -> str | None:
    instant = fixed_instant()
    if instant is None:
        return None
    markers = ", ".join(REAL_CLOCK_MARKERS)
    return f"{VARIABLE}: every test starts at {instant.isoformat()} (tests marked {markers} keep the real clock)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    instant = fixed_instant()
    if instant is None or keeps_real_clock(item):
        yield
        return
    with time_machine.travel(instant, tick=True):
        yield
