"""The suite-wide fixed-instant switch (tests/fixed_instant.py), run in a child pytest on a probe file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixed_instant import VARIABLE, fixed_instant

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
from datetime import UTC, datetime, timedelta

import pytest

INSTANT = datetime(2031, 12, 31, 23, 30, tzinfo=UTC)


@pytest.fixture
def fixture_time():
    return datetime.now(UTC)


def test_faked(fixture_time):
    assert INSTANT <= fixture_time < INSTANT + timedelta(seconds=30)
    assert INSTANT <= datetime.now(UTC) < INSTANT + timedelta(seconds=30)


def test_faked_again_from_the_same_instant():
    assert INSTANT <= datetime.now(UTC) < INSTANT + timedelta(seconds=30)


@pytest.mark.celery_worker
def test_worker_tests_keep_the_real_clock():
    assert datetime.now(UTC) < INSTANT - timedelta(days=1)
"""


def _run_probe(tmp_path: Path, value: str) -> subprocess.CompletedProcess:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {**os.environ, VARIABLE: value, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:django"]
    command += ["-p", "tests.fixed_instant", "-c", os.devnull, "--rootdir", str(tmp_path), str(probe)]
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_each_test_starts_at_the_instant_and_worker_tests_keep_the_real_clock(tmp_path):
    result = _run_probe(tmp_path, "2031-12-31T23:30:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert f"{VARIABLE}: every test starts at 2031-12-31T23:30:00+00:00" in result.stdout


def test_a_bad_instant_is_a_clear_usage_error(tmp_path):
    result = _run_probe(tmp_path, "tomorrow")
    assert result.returncode != 0
    assert "is not an ISO 8601 instant" in result.stdout + result.stderr


def test_no_variable_means_the_real_clock(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    assert fixed_instant() is None
    monkeypatch.setenv(VARIABLE, "2027-03-31T23:30:00")
    assert fixed_instant().utcoffset().total_seconds() == 0


@pytest.mark.parametrize("value", ["2026-12-02T00:00:30Z", "2026-12-02T00:00:30+00:00"])
def test_z_and_offset_spellings_agree(monkeypatch, value):
    monkeypatch.setenv(VARIABLE, value)
    assert fixed_instant().isoformat() == "2026-12-02T00:00:30+00:00"
