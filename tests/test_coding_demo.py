"""Demo data: coding-tool usage on the person page and the People board after seeding."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.urls import reverse

from accounts.models import User
from allocator.coding.models import CodingIdentity, CodingSeat, CodingUsage
from allocator.quarters import Quarter
from tests.conftest import login


def test_demo_has_coding_tools_on_the_person_page_and_the_board(db):
    out = StringIO()
    call_command("seed_demo", "--no-usage", stdout=out)
    call_command("seed_demo_coding", stdout=out)
    call_command("seed_demo_coding", stdout=out)  # idempotent: nothing added
    assert CodingUsage.objects.filter(account__name="Claude Code (demo)").exists()
    assert CodingSeat.objects.exists()
    assert CodingIdentity.objects.filter(user=None).count() == 1  # one to map by hand
    maya = User.objects.get(email="manager@example.com")
    used = CodingUsage.objects.filter(user__memberships__team__slug="search", account__name="Claude Code (demo)")
    latest = used.exclude(user=None).latest("day")
    # The quarter of the demo's latest use: in the first minutes of a quarter that is still the one before.
    quarter = f"?quarter={Quarter.containing(latest.day)}"
    page = login(maya).get(reverse("budgets:person", args=[latest.user.pk]) + quarter).content.decode()
    assert "Claude Code (demo)" in page[page.index('id="person-coding"') :]
    board = login(maya).get(reverse("budgets:leaderboard") + quarter + "&tab=people").content.decode()
    assert 'id="coding-tools"' in board and "GitHub Copilot (demo)" in board
