"""One cache shared by every process: the database by default (created by `migrate`), Redis when configured."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache

from tests.conftest import _database_url_for_worker

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "DJANGO_SETTINGS_MODULE")}
    clean.update({"DJANGO_SETTINGS_MODULE": "allocator.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_default_cache_is_a_database_table_every_process_shares():
    result = _python(
        "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c['LOCATION'])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.core.cache.backends.db.DatabaseCache", "allocator_cache"]


def test_cache_url_selects_redis_for_production():
    result = _python(
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        CACHE_URL="redis://127.0.0.1:6379/2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.core.cache.backends.redis.RedisCache"


def test_migrate_creates_the_cache_table(tmp_path):
    database = tmp_path / "fresh.sqlite3"
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "allocator.settings", "DATABASE_URL": f"sqlite:///{database}"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    tables = {row[0] for row in sqlite3.connect(database).execute("SELECT name FROM sqlite_master")}
    assert "allocator_cache" in tables


@pytest.mark.django_db(transaction=True)
def test_an_add_in_one_process_is_refused_in_another():
    """What replay protection needs: with several gunicorn workers, only the first `add` of a key wins."""
    assert cache.add("replay:signature-1", 1, timeout=300) is True
    result = _python(
        "from django.core.cache import cache; "
        "print(cache.add('replay:signature-1', 1, timeout=300), cache.add('replay:signature-2', 1, timeout=300))",
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=_database_url_for_worker(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
    assert cache.add("replay:signature-2", 1, timeout=300) is False
    cache.delete_many(["replay:signature-1", "replay:signature-2"])  # flushing a transactional test keeps the table
