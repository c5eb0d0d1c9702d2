"""CursorProvider over real HTTP against the Cursor Admin API emulator: auth, members, the merged per-person days,
the history window, paging, member spend and hard limits, and 429 / 5xx / malformed answers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from allocator.providers import get_provider
from allocator.providers.base import ProviderError
from allocator.providers.cursor import CursorProvider, spend_limit_error
from tests.emulators.cursor import CursorEmulator

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
DAY = timedelta(days=1)


@pytest.fixture
def emulator(cursor_emulator: CursorEmulator) -> Iterator[CursorEmulator]:
    cursor_emulator.now = NOW
    with time_machine.travel(NOW, tick=True):
        yield cursor_emulator


@pytest.fixture
def provider(emulator: CursorEmulator) -> CursorProvider:
    adapter = get_provider("cursor", base_url=emulator.url, credential=emulator.credential, options={"max_sleep": 0.02})
    assert isinstance(adapter, CursorProvider)
    return adapter


def test_connection_uses_basic_auth_with_the_key_as_username(provider, emulator) -> None:
    emulator.add_member("erin@example.com")
    emulator.add_member("sam@example.com", role="owner")
    assert provider.check_connection() == "Connected: 2 team members"
    (request,) = emulator.requests
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{emulator.credential}:".encode()).decode()


def test_rejected_key_is_an_auth_error_and_never_echoed(emulator) -> None:
    adapter = CursorProvider(base_url=emulator.url, credential="key_wrong_0123456789")
    with pytest.raises(ProviderError, match="Invalid API key") as caught:
        adapter.check_connection()
    assert caught.value.auth and caught.value.permanent and caught.value.status == 401
    assert "key_wrong" not in str(caught.value)


def test_person_days_merge_outcomes_and_events_exactly_as_served(provider, emulator) -> None:
    day = TODAY - 2 * DAY
    emulator.add_member("erin@example.com")
    emulator.add_day("Erin@Example.com", day, totalLinesAdded=120, acceptedLinesAdded=80, totalTabsAccepted=9,
                     chatRequests=4, agentRequests=2, usageBasedReqs=3)  # fmt: skip
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    emulator.add_event("erin@example.com", at, model="claude-4-opus", input_tokens=126, output_tokens=450,
                       cache_read=11964, cache_write=6112, cents=20.18232)  # fmt: skip
    emulator.add_event("erin@example.com", at + timedelta(minutes=5), model="claude-4-opus", input_tokens=5805,
                       output_tokens=311, cache_write=11964, cents=40.16699999999999)  # fmt: skip
    emulator.add_event("erin@example.com", at + timedelta(minutes=9), model="gpt-5", cents=None)  # included in plan

    (found,) = provider.person_days(start=day, end=day)

    assert (found.email, found.day, found.active) == ("erin@example.com", day, True)
    opus = found.models["claude-4-opus"]
    assert (opus.input_tokens, opus.output_tokens) == (126 + 11964 + 6112 + 5805 + 11964, 761)
    assert (opus.cache_read_tokens, opus.cache_write_tokens, opus.requests) == (11964, 18076, 2)
    assert opus.cost_usd == Decimal("0.603493")  # 60.34932 cents, to the micro-dollar
    assert found.models["gpt-5"].cost_usd == 0 and found.models["gpt-5"].requests == 1
    assert found.outcomes["lines_added"] == 120 and found.outcomes["accepted_lines_added"] == 80
    assert found.outcomes["tabs_accepted"] == 9 and found.requests == 6


def test_days_older_than_the_history_window_come_back_empty(provider, emulator) -> None:
    emulator.seed_days(["erin@example.com"], TODAY - 20 * DAY, TODAY)
    days = provider.person_days(start=TODAY - 20 * DAY, end=TODAY)
    assert min(d.day for d in days) == TODAY - 7 * DAY


def test_usage_events_are_paged_until_the_last_page(provider, emulator) -> None:
    at = NOW - timedelta(hours=3)
    for n in range(1203):
        emulator.add_event("erin@example.com", at + timedelta(seconds=n), cents=1)
    pages = list(provider.usage_events(start=NOW - DAY, end=NOW))
    assert [len(p) for p in pages] == [500, 500, 203]
    assert [r.json["page"] for r in emulator.requests_to("POST", "/teams/filtered-usage-events")] == [1, 2, 3]


def test_a_429_is_retried_after_its_retry_after(provider, emulator) -> None:
    emulator.add_member("erin@example.com")
    emulator.fail_next(status=429, retry_after=0.01)
    assert provider.check_connection() == "Connected: 1 team members"
    assert len(emulator.requests) == 2


def test_5xx_after_the_retries_is_a_retryable_error(provider, emulator) -> None:
    emulator.fail_next(3, status=503)
    with pytest.raises(ProviderError) as caught:
        provider.person_days(start=TODAY, end=TODAY)
    assert caught.value.status == 503 and not caught.value.permanent


def test_a_malformed_page_is_a_clear_error(provider, emulator) -> None:
    emulator.fail_next(malformed=True, path_prefix="/teams/filtered-usage-events")
    with pytest.raises(ProviderError, match="malformed response to POST /teams/filtered-usage-events"):
        list(provider.usage_events(start=NOW - DAY, end=NOW))


def test_an_event_with_a_wrong_field_type_fails_its_page(provider, emulator) -> None:
    emulator.add_event("erin@example.com", NOW - timedelta(hours=1), input_tokens=10, cents=3)
    emulator.events[0]["tokenUsage"]["inputTokens"] = "ten"
    with pytest.raises(ProviderError, match="malformed usage event"):
        list(provider.usage_events(start=NOW - DAY, end=NOW))


def test_member_spend_pages_and_reads_the_cycle_start(provider, emulator) -> None:
    emulator.cycle_start = datetime(2026, 11, 3, tzinfo=UTC)
    for n in range(130):
        emulator.add_member(f"p{n:03d}@example.com")
    emulator.add_event("p007@example.com", NOW - timedelta(hours=2), cents=2450)
    emulator.limits["p007@example.com"] = 100
    cycle, members = provider.member_spend()
    assert cycle == datetime(2026, 11, 3, tzinfo=UTC) and len(members) == 130
    seven = next(m for m in members if m.email == "p007@example.com")
    assert (seven.spend_usd, seven.hard_limit_usd) == (Decimal("24.50"), Decimal(100))
    assert len(emulator.requests_to("POST", "/teams/spend")) == 2


def test_member_limit_is_set_in_whole_dollars_and_removed_with_none(provider, emulator) -> None:
    emulator.add_member("erin@example.com")
    provider.member_limit_set(email="erin@example.com", dollars=42)
    assert emulator.limits["erin@example.com"] == 42
    provider.member_limit_set(email="erin@example.com", dollars=None)
    assert emulator.limits["erin@example.com"] is None
    assert emulator.requests[-1].json == {"userEmail": "erin@example.com", "spendLimitDollars": None}


def test_member_limit_is_checked_before_calling_out(provider, emulator) -> None:
    with pytest.raises(ProviderError, match="Not sent to Cursor: .*whole dollars"):
        provider.member_limit_set(email="erin@example.com", dollars=Decimal("4.5"))  # type: ignore[arg-type]
    with pytest.raises(ProviderError, match="not an email address"):
        provider.member_limit_set(email="erin", dollars=4)
    assert spend_limit_error(email="erin@example.com", dollars=10_000_001) is not None
    assert emulator.requests == []


def test_a_refused_limit_says_why(provider, emulator) -> None:
    with pytest.raises(ProviderError, match="not a member of this team") as caught:
        provider.member_limit_set(email="gone@example.com", dollars=5)
    assert caught.value.permanent


def test_a_long_span_is_asked_in_spans_of_thirty_days(provider, emulator) -> None:
    provider.daily_usage(start=date(2026, 9, 1), end=date(2026, 11, 20))
    spans = [(r.json["endDate"] - r.json["startDate"]) // 86_400_000 for r in emulator.requests]
    assert spans == [30, 30, 21]


def test_usage_cursor_names_no_one_for_is_kept_not_dropped(provider, emulator) -> None:
    emulator.add_event("erin@example.com", NOW - timedelta(hours=1), cents=7)
    emulator.events[0]["userEmail"] = None
    (found,) = provider.person_days(start=TODAY, end=TODAY)
    (row,) = found.rows()
    assert (row.identity, row.email, row.cost_usd) == ("(no email)", "", Decimal("0.070000"))
