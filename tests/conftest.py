"""The fixed cast and shared fixtures.

Cast: `engineer` and `manager` share `team` (cost center `cost_center`); `outsider` is an engineer of
`other_team`; `finance` and `admin` hold the global roles. `simulated` is the built-in provider account.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Membership, User
from allocator.celery import app as celery_app
from allocator.models import Policy, ProviderAccount, ProviderKind
from tests.factories import CostCenterFactory, MembershipFactory, ProjectFactory, TeamFactory, UserFactory

# The end-to-end flows run in a process of their own with single sign-on turned on (`make test-e2e`).
collect_ignore = [] if getattr(settings, "END_TO_END", False) else ["e2e"]

pytest_plugins = ["tests.emulators.fixtures", "tests.emulators.stripe", "tests.fixed_instant", "tests.browser_support"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL the audit log refuses TRUNCATE, which is how Django empties tables after a transactional
    test; the test database runs with that one trigger disabled (test_audit enables it to prove it works)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE accounts_auditevent DISABLE TRIGGER accounts_auditevent_no_truncate")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty shared cache (it lives in files for the whole run)."""
    yield
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def cost_center(db):
    return CostCenterFactory(code="RND", name="R&D")


@pytest.fixture
def team(cost_center):
    return TeamFactory(name="Search", slug="search", cost_center=cost_center)


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Growth", slug="growth", cost_center=CostCenterFactory(code="PROD", name="Product"))


@pytest.fixture
def project(team):
    return ProjectFactory(team=team, name="Ranking", slug="ranking", kind="run")


@pytest.fixture
def engineer(team) -> User:
    user = UserFactory(email="engineer@example.com", full_name="Erin Engineer")
    MembershipFactory(user=user, team=team)
    return user


@pytest.fixture
def manager(team) -> User:
    user = UserFactory(email="manager@example.com", full_name="Maya Manager")
    MembershipFactory(user=user, team=team, role=Membership.Role.MANAGER)
    return user


@pytest.fixture
def finance(db) -> User:
    return UserFactory(email="finance@example.com", full_name="Felix Finance", role=User.Role.FINANCE)


@pytest.fixture
def admin(db) -> User:
    return UserFactory(
        email="admin@example.com", full_name="Ada Admin", role=User.Role.ADMIN, is_staff=True, is_superuser=True
    )


@pytest.fixture
def outsider(other_team) -> User:
    user = UserFactory(email="outsider@example.com", full_name="Otto Outsider")
    MembershipFactory(user=user, team=other_team)
    return user


@pytest.fixture
def cast(engineer, manager, finance, admin, outsider) -> dict[str, User]:
    return {"engineer": engineer, "manager": manager, "finance": finance, "admin": admin, "outsider": outsider}


@pytest.fixture
def simulated(db) -> ProviderAccount:
    return ProviderAccount.objects.create(name="Simulated", kind=ProviderKind.SIMULATED)


@pytest.fixture
def policy(db) -> Policy:
    return Policy.current()


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def client_for():
    return login


@pytest.fixture
def eager_celery():
    """Run tasks in-process when enqueued (the real-worker tests use `celery_worker` instead)."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield celery_app
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


def _database_url_for_worker() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real Celery worker process on the configured broker, using the test database."""
    log_path = Path(settings.RUN_DIR) / "worker.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": _database_url_for_worker()}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "allocator",
                "worker",
                "--loglevel=INFO",
                "--pool=solo",
                "-Q",
                settings.CELERY_TASK_DEFAULT_QUEUE,
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}@%h",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        from allocator.tasks import heartbeat

        deadline = time.monotonic() + 60
        result = heartbeat.delay()
        while not result.ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Celery worker did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
