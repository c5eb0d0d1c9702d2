"""Usage syncs through faulty providers: 429 with Retry-After, 5xx, timeouts, pages cut off half way and malformed
pages. The adapter retries what it can, a run that still fails keeps its complete pages and is redone as the
task's retry would redo it, and the totals afterwards equal a clean sync of the same provider data."""

from __future__ import annotations

import pytest

from allocator.models import ProviderKind, SyncRun
from allocator.providers.base import ProviderError
from allocator.usage.sync import usage_sync
from tests.fleet import EMULATORS, USAGE_KINDS, USAGE_PATHS, clean_twin, fleet_account, pass_through, since
from tests.usage_helpers import assert_rollups_match, bucket_totals, rollup_totals

pytestmark = pytest.mark.django_db


def sync_until_it_succeeds(account, attempts: int = 5) -> list[SyncRun]:
    """What the Celery task does with a retryable ProviderError: try again (here at once, not after a backoff)."""
    for _ in range(attempts):
        try:
            usage_sync(account=account, since=since(), enforce=False)
        except ProviderError as error:
            assert not error.permanent, error
            continue
        break
    return list(SyncRun.objects.filter(account=account).order_by("pk"))


@pytest.mark.parametrize("kind", USAGE_KINDS)
def test_every_fault_ends_in_the_totals_of_a_clean_run(kind, engineer, team):
    with EMULATORS[kind]() as emulator:
        faulty = fleet_account(kind, emulator, name="Faulty", owner=engineer, team=team, timeout=0.3, retries=2)
        path = USAGE_PATHS[kind]
        # First run: a 429 and a 503 on the first page, absorbed by the adapter's retries; the second page is cut
        # off half way on every attempt, so the run fails.
        emulator.fail_next(1, status=429, retry_after=0.01, path_prefix=path)
        emulator.fail_next(1, status=503, path_prefix=path)
        pass_through(emulator, path_prefix=path)
        emulator.fail_next(3, truncated=True, path_prefix=path)
        # Second run (the task's retry): a timeout the adapter absorbs, then a malformed page (never retried by the
        # adapter): it fails too. The third run meets no fault.
        emulator.fail_next(1, delay=1.0, path_prefix=path)
        pass_through(emulator, path_prefix=path)
        emulator.fail_next(1, malformed=True, path_prefix=path)

        runs = sync_until_it_succeeds(faulty.account)

        assert [run.status for run in runs] == [SyncRun.Status.FAILED, SyncRun.Status.FAILED, SyncRun.Status.SUCCEEDED]
        assert "cut off" in runs[0].error
        if kind != ProviderKind.OPENROUTER:  # (OpenRouter's page is one key's days: the cut came in the first)
            assert runs[0].pages == 1  # the complete page before the cut stayed
        assert "malformed" in runs[1].error
        assert not emulator.errors
        clean = clean_twin(faulty)
        usage_sync(account=clean, since=since(), enforce=False)
        assert bucket_totals(faulty.account) == bucket_totals(clean)
        assert bucket_totals(clean)["input_tokens"] > 0
        assert rollup_totals(faulty.account) == rollup_totals(clean)
        assert_rollups_match(faulty.account)


def test_a_page_cut_off_half_way_is_retried_by_the_adapter(openai_emulator, engineer, team):
    seeded = fleet_account("openai", openai_emulator, name="Cut", owner=engineer, team=team)
    openai_emulator.fail_next(1, truncated=True, path_prefix=USAGE_PATHS["openai"])

    run = usage_sync(account=seeded.account, since=since(), enforce=False)

    assert run.status == SyncRun.Status.SUCCEEDED
    first, second = openai_emulator.requests_to("GET", "/organization/usage/completions")[:2]
    assert first.query == second.query  # the same page asked again
