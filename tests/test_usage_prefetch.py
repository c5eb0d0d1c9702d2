"""Pages prepared ahead of the writer, in a producer process or a helper thread: order, errors, a killed producer."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from allocator.providers.base import ProviderError
from allocator.usage.prefetch import prefetched

MODES = [pytest.param(True, id="process"), pytest.param(False, id="thread")]


def _pages(n: int):
    yield from ([i] * 3 for i in range(n))


@pytest.mark.parametrize("process", MODES)
def test_pages_come_prepared_and_in_order(process):
    assert list(prefetched(_pages(7), lambda page: sum(page), process=process)) == [0, 3, 6, 9, 12, 15, 18]


@pytest.mark.parametrize("process", MODES)
def test_a_provider_error_in_the_producer_is_raised_with_its_flags(process):
    def pages():
        yield [1]
        raise ProviderError("OpenAI answered 429 to GET /usage", status=429, retry_after=7.5)

    prepared = prefetched(pages(), len, process=process)
    assert next(prepared) == 1
    with pytest.raises(ProviderError, match="answered 429") as caught:
        next(prepared)
    error = caught.value
    assert (error.status, error.retry_after, error.permanent, error.auth) == (429, 7.5, False, False)


def test_a_killed_producer_fails_the_run_instead_of_ending_it_quietly():
    def prepare(page: list[int]) -> int:
        if page[0] == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # in the producer process
        return page[0]

    received = []
    with pytest.raises(RuntimeError, match="usage producer stopped"):
        for page in prefetched(_pages(5), prepare, process=True):
            received.append(page)
    assert received in ([], [0], [0, 1])  # what it had sent before it died (its send buffer dies with it)


def test_stopping_early_ends_the_producer():
    prepared = prefetched(_pages(1000), sum, process=True)
    assert next(prepared) == 0
    prepared.close()  # the writer failed or the run was superseded
    assert not [child for child in multiprocessing.active_children() if child.name == "usage-producer"]


def test_a_page_that_cannot_be_sent_fails_the_run_instead_of_going_missing():
    prepared = prefetched(_pages(3), lambda page: (lambda: page) if page[0] == 1 else page[0], process=True)
    assert next(prepared) == 0
    with pytest.raises(RuntimeError, match="could not send a page"):
        next(prepared)
