"""Pages prepared ahead of the writer: fetching, decoding, parsing and pricing a page overlaps with storing the one
before it.

`prefetched(pages, prepare)` yields `prepare(page)` for each page of `pages`, computed ahead:

- in a producer **process** (forked: it inherits the adapter, the key map and the pricer as they are) when the
  database is PostgreSQL. The writer then only sends the COPY text the producer built, and the two run on two
  cores. A helper thread would share the interpreter lock with the writer, and every time the writer wants it back
  after a database call it waits for the parser (it measured 0.35–0.45 × a plain COPY; the process about 0.5–0.6 ×).
- in a helper **thread** elsewhere (SQLite stores rows with executemany, which needs the rows themselves, and a
  platform without `fork`).

Neither helper touches the database (adapters that read it, `reads_database`, are not prefetched at all). An
error in the helper is raised here; when the caller stops early (an error while writing, a superseded run), the
helper is stopped.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

AHEAD = 2  # pages prepared ahead of the writer: enough to keep it busy, little memory (a page is a few MB)
_POLL = 0.2  # seconds between checks of "stop" while a queue is full or empty


def prefetched(pages: Iterator[Any], prepare: Callable[[Any], Any], *, process: bool = False) -> Iterator[Any]:
    """`prepare(page)` for each page, one to AHEAD pages ahead: in a forked process when `process` (and the
    platform can fork), else in a thread. What `prepare` returns must pickle for the process."""
    if process and "fork" in multiprocessing.get_all_start_methods():
        try:
            return _from_process(*_start_producer(pages, prepare))
        except (AssertionError, OSError):  # e.g. a daemonic process may not have children; out of processes
            logger.warning("could not start the usage producer process; preparing pages in a thread", exc_info=True)
    return _in_thread(pages, prepare)


def _produce(pages: Iterator[Any], prepare: Callable[[Any], Any], put: Callable[[tuple], bool]) -> None:
    try:
        for page in pages:
            if not put(("page", prepare(page))):
                return
        put(("end", None))
    except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
        put(("error", error))


def _consume(get: Callable[[], tuple]) -> Iterator[Any]:
    while True:
        kind, value = get()
        if kind == "end":
            return
        if kind == "error":
            raise value
        yield value


def _in_thread(pages: Iterator[Any], prepare: Callable[[Any], Any]) -> Iterator[Any]:
    handoff: queue.Queue = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def put(item: tuple) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    threading.Thread(target=_produce, args=(pages, prepare, put), name="usage-prefetch", daemon=True).start()
    try:
        yield from _consume(handoff.get)
    finally:
        stop.set()


def _start_producer(pages: Iterator[Any], prepare: Callable[[Any], Any]) -> tuple[Any, Any]:
    context = multiprocessing.get_context("fork")
    handoff = context.Queue(maxsize=AHEAD)

    def put(item: tuple) -> bool:
        # Pickled here, not in the queue's feeder thread, which would drop (and only print) what does not pickle:
        # a page lost without a word would then be "not reported again" and its stored rows deleted.
        try:
            data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # noqa: BLE001 - e.g. an error that does not pickle: send its words instead
            words = f"the usage producer could not send a {item[0]}: {error!r}"
            handoff.put(pickle.dumps(("error", RuntimeError(words))))
            return False
        handoff.put(data)
        return True

    def run() -> None:
        # The parent's handlers (a Celery worker's warm shutdown) are not this process's: terminate() just ends it.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops this one
        _produce(pages, prepare, put)
        handoff.close()
        handoff.join_thread()  # everything put is sent before the process ends

    producer = context.Process(target=run, name="usage-producer", daemon=True)
    producer.start()
    return producer, handoff


def _loads(data: bytes) -> tuple:
    return pickle.loads(data)  # noqa: S301 - sent by our own forked producer, never by anyone else


def _from_process(producer: Any, handoff: Any) -> Iterator[Any]:
    def get() -> tuple:
        while True:
            try:
                return _loads(handoff.get(timeout=_POLL))
            except queue.Empty:
                if producer.is_alive():
                    continue
                try:  # it may have sent its last word just before it ended
                    return _loads(handoff.get(timeout=_POLL))
                except queue.Empty:  # ended without one (killed): what it sent before is all there is
                    raise RuntimeError(f"the usage producer stopped (exit code {producer.exitcode})") from None

    try:
        yield from _consume(get)
    finally:
        if producer.is_alive():
            producer.terminate()
        producer.join(timeout=5)
        handoff.close()
        handoff.cancel_join_thread()
