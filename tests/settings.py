"""Test settings: the real settings, plus per-run isolation so parallel runs never share a broker or DB file."""

import os
import tempfile
from pathlib import Path

from allocator.settings import *  # noqa: F403
from allocator.settings import CELERY_BROKER_URL, DATABASES

# One folder per test run, inherited by the Celery worker subprocess that the tests start.
RUN_DIR = Path(os.environ.setdefault("ALLOCATOR_TEST_RUN_DIR", tempfile.mkdtemp(prefix="allocator-test-")))
# Under pytest-xdist each worker gets a folder of its own (its own SQLite file, cache, queue and worker subprocess).
if os.environ.get("PYTEST_XDIST_WORKER") and RUN_DIR.name != os.environ["PYTEST_XDIST_WORKER"]:
    RUN_DIR = RUN_DIR / os.environ["PYTEST_XDIST_WORKER"]
    RUN_DIR.mkdir(exist_ok=True)
    os.environ["ALLOCATOR_TEST_RUN_DIR"] = str(RUN_DIR)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (not :memory:) so a real Celery worker process can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(RUN_DIR / "test.sqlite3")}

# A shared cache like production's (several processes see one another's `cache.add`), in this run's folder so the
# worker subprocess shares it and parallel runs do not; files, so a test needs no database to use it.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(RUN_DIR / "cache")}
}

# Named for the whole folder path, so concurrent runs (and their xdist workers) never share a queue on one broker;
# workers of one test may get a queue of their own (tests/worker_processes.py), so what they send stays with them.
_QUEUE_PARTS = RUN_DIR.parts[-2:] if os.environ.get("PYTEST_XDIST_WORKER") else [RUN_DIR.name]
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("ALLOCATOR_TEST_QUEUE") or "allocator-test-" + "-".join(_QUEUE_PARTS)
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_FILESYSTEM_BROKER_DIR = RUN_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_BROKER_DIR),
        "data_folder_out": str(CELERY_FILESYSTEM_BROKER_DIR),
        "control_folder": str(CELERY_FILESYSTEM_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", f"file://{RUN_DIR / 'results'}")
(RUN_DIR / "results").mkdir(exist_ok=True)
