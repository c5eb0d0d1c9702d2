"""One cache shared by every process: the database by default (created by `migrate`), Redis when configured.

The suite itself runs on a file cache in the run's folder (tests/settings.py), shared with the worker subprocess.
"""

import os
import subprocess
import sys
from pathlib import Path

from django.core.cache import cache

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
        timeout=300,
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


def test_migrate_creates_the_cache_table_and_processes_share_it(tmp_path):
    """What Slack replay protection needs with several gunicorn workers: only the first `add` of a key wins."""
    database = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    migrate = _python(
        "from django.core.management import call_command; call_command('migrate', verbosity=0)", DATABASE_URL=database
    )
    assert migrate.returncode == 0, migrate.stderr
    add = "from django.core.cache import cache; print(cache.add('replay:signature-1', 1, timeout=300))"
    first, second = (_python(add, DATABASE_URL=database) for _ in range(2))
    assert (first.stdout.strip(), second.stdout.strip()) == ("True", "False"), first.stderr + second.stderr


def test_the_suite_and_its_worker_subprocess_share_one_cache():
    # No expiry: the subprocess keeps the real clock while ALLOCATOR_TEST_NOW may fake this one.
    assert cache.add("replay:signature-2", 1, timeout=None) is True
    result = _python(
        "from django.core.cache import cache; print(cache.add('replay:signature-2', 1, timeout=300))",
        DJANGO_SETTINGS_MODULE="tests.settings",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
