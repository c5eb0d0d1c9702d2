"""The person page shows the hard limit Allocator keeps for them at Cursor (budgets/member_caps.py), and a write that
failed, beside the coding-tools card, against the Cursor emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from allocator.models import ProviderKind
from budgets.member_caps import member_caps_keep
from tests.budget_factories import pinned_clock, spend, user_budget
from tests.conftest import login
from tests.factories import KeyFactory
from tests.usage_helpers import emulator_account


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def cursor(db, cursor_emulator, engineer, team, simulated):
    """Erin on Cursor ($24.50 this cycle), over her $100 budget by $30."""
    cursor_emulator.add_member(engineer.email)
    cursor_emulator.limits[engineer.email] = 500
    cursor_emulator.add_event(engineer.email, timezone.now() - timedelta(hours=2), cents=2450)
    user_budget(engineer, team, "100")
    spend(KeyFactory(account=simulated, owner_user=engineer, team=team), "130")
    return emulator_account(ProviderKind.CURSOR, cursor_emulator, member_limits=True, name="Cursor")


def _limits_section(client, person) -> str:
    page = client.get(reverse("budgets:person", args=[person.pk])).content.decode()
    coding = page[page.index('id="person-coding"') : page.index('id="person-history"')]
    assert 'id="person-member-limits"' in coding, "the limits sit in the coding-tools card"
    return coding[coding.index('id="person-member-limits"') :]


def test_person_page_shows_the_cursor_limit_allocator_keeps(cursor, engineer, manager):
    member_caps_keep()
    section = _limits_section(login(manager), engineer)
    assert "Cursor" in section and engineer.email in section and "$24" in section and "In step" in section
    assert "write failed" not in section
    assert "$24" in _limits_section(login(engineer), engineer)  # the person sees their own


def test_person_page_shows_a_failed_limit_write(cursor, cursor_emulator, engineer, manager):
    cursor_emulator.fail_next(5, status=503, path_prefix="/teams/user-spend-limit")
    member_caps_keep()
    section = _limits_section(login(manager), engineer)
    assert "write failed" in section and "Setting the limit failed (1 attempt)" in section and "503" in section
    assert "Retrying at" in section


def test_person_page_without_a_limit_shows_no_limits_table(engineer, manager):
    page = login(manager).get(reverse("budgets:person", args=[engineer.pk])).content.decode()
    assert 'id="person-member-limits"' not in page and 'id="person-coding"' in page
