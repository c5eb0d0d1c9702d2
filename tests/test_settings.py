"""Production refuses unsafe settings at start-up; development needs no servers."""

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

GOOD_SECRET = "x" * 20 + "production-secret-key-long-enough-0123456789"


def _start(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALLOCATOR_", "DEBUG", "SECRET_KEY"))}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "allocator.settings"
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALLOCATOR_ENV": "production", "DEBUG": "true", "SECRET_KEY": GOOD_SECRET}, "DEBUG must be off"),
        ({"ALLOCATOR_ENV": "production", "DEBUG": "false"}, "SECRET_KEY must be set"),
        (
            {"ALLOCATOR_ENV": "production", "SECRET_KEY": "dev-only-insecure-secret-key-change-me-0123456789abcdef"},
            "SECRET_KEY must be a long random value",
        ),
        ({"ALLOCATOR_ENV": "production", "SECRET_KEY": GOOD_SECRET}, "ALLOCATOR_ENCRYPTION_KEYS must be set"),
        ({"DEBUG": "false"}, "SECRET_KEY must be set"),
    ],
)
def test_production_refuses_unsafe_settings(env, message):
    result = _start(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_starts_with_safe_settings():
    result = _start(
        ALLOCATOR_ENV="production",
        SECRET_KEY=GOOD_SECRET,
        ALLOCATOR_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_development_defaults_need_no_servers():
    result = _start()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_deploy_check_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLOCATOR_", "DEBUG", "SECRET_KEY"))}
    env.update(
        DJANGO_SETTINGS_MODULE="allocator.settings",
        ALLOCATOR_ENV="production",
        SECRET_KEY=GOOD_SECRET,
        ALLOCATOR_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="allocator.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
