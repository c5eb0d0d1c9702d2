"""Production refuses unsafe settings at start-up; development needs no servers."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
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


def _make_run_dry(tmp_path: Path, env_file: str | None = None, **env: str) -> str:
    """The command `make run` would start, from a copy of the Makefile in an empty folder."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").touch()
    if env_file is not None:
        (tmp_path / ".env").write_text(env_file)
    clean = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "PORT", "MAKEFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if "honcho start" in line)


def test_make_run_on_another_port_links_to_that_port(tmp_path):
    assert "PORT=8123 SITE_URL=http://127.0.0.1:8123 " in _make_run_dry(tmp_path)


def test_make_run_keeps_a_site_url_that_is_set(tmp_path):
    assert "SITE_URL=" not in _make_run_dry(tmp_path, SITE_URL="https://allocator.example.com")
    assert "SITE_URL=" not in _make_run_dry(tmp_path, env_file="SITE_URL=https://allocator.example.com\n")


def test_development_writes_each_email_as_a_file_under_var_mail(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings; from django.core.mail import send_mail; "
        "print(settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH.relative_to(settings.BASE_DIR)); "
        f"settings.EMAIL_FILE_PATH = {str(tmp_path)!r}; "
        "send_mail('Budget at 80 %', 'See ' + settings.SITE_URL + '/budgets/', None, ['manager@example.com'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("EMAIL_BACKEND", "EMAIL_URL", "SITE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="allocator.settings", PORT="8123")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.core.mail.backends.filebased.EmailBackend", "var/mail"]
    assert "Budget at 80" not in result.stdout + result.stderr
    (message,) = tmp_path.iterdir()
    text = message.read_text()
    assert "Subject: Budget at 80 %" in text and "See http://127.0.0.1:8123/budgets/" in text


def test_production_without_mail_settings_logs_email_to_the_console():
    code = "import django; django.setup(); from django.conf import settings; print(settings.EMAIL_BACKEND)"
    env = {k: v for k, v in os.environ.items() if k not in ("EMAIL_BACKEND", "EMAIL_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="allocator.settings",
        ALLOCATOR_ENV="production",
        SECRET_KEY=GOOD_SECRET,
        ALLOCATOR_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "django.core.mail.backends.console.EmailBackend", result.stderr
