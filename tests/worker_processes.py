"""Real Celery worker processes for the many-worker and kill tests: start them, see when they are idle, kill one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from allocator.celery import app as celery_app
from tests.conftest import _database_url_for_worker


def wait_for(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Worker:
    """One `celery worker --pool=solo` process on `queue` (also the queue of every task it sends), logging to the
    run folder."""

    def __init__(self, name: str, queue: str) -> None:
        self.name = name
        self.queue = queue
        self.hostname = f"{name}-{os.getpid()}@localhost"
        self.log_path = Path(settings.RUN_DIR) / f"worker-{name}.log"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": _database_url_for_worker(),
               "ALLOCATOR_TEST_QUEUE": queue}  # fmt: skip
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "allocator", "worker", "--loglevel=INFO", "--pool=solo",
                 "-Q", queue, "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", self.hostname],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text()[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def start_workers(names: list[str], queue: str) -> list[Worker]:
    """Start the workers side by side and wait until each answers a ping."""
    workers = [Worker(name, queue) for name in names]
    try:
        wait_for(lambda: _all_answer(workers), 90, "the workers to start")
    except AssertionError:
        for worker in workers:
            worker.stop()
        raise AssertionError("workers did not start:\n" + "\n".join(w.log() for w in workers)) from None
    return workers


def _all_answer(workers: list[Worker]) -> bool:
    for worker in workers:
        if worker.process.poll() is not None:
            raise AssertionError(f"worker {worker.name} exited:\n{worker.log()}")
    replies = celery_app.control.ping(destination=[w.hostname for w in workers], timeout=0.5) or []
    return len(replies) == len(workers)


def wait_until_idle(workers: list[Worker], timeout: float = 120) -> None:
    """Until the queue is empty and no worker runs, holds or schedules a task, seen twice in a row."""
    destinations = [w.hostname for w in workers if w.process.poll() is None]

    def idle() -> bool:
        with celery_app.connection_for_write() as connection:
            waiting = connection.default_channel.client.llen(workers[0].queue)
        if waiting:
            return False
        inspect = celery_app.control.inspect(destination=destinations, timeout=0.5)
        for answer in (inspect.active(), inspect.reserved(), inspect.scheduled()):
            if answer is None or len(answer) < len(destinations) or any(answer.values()):
                return False
        return True

    wait_for(lambda: idle() and (time.sleep(0.5) or idle()), timeout, "the workers to finish")
