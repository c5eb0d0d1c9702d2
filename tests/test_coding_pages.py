"""Coding tools on the pages: the person page and the People board show spend per tool and the tools' own outcome
counts from the coding summaries; an admin maps unmatched identities and their spend moves with them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from allocator.coding.models import CodingIdentity
from allocator.coding.store import coding_day_store, coding_seats_store
from allocator.models import DailyRollup, Key, ProviderAccount
from allocator.providers.coding import CodingUsageRow, SeatRow
from allocator.quarters import Quarter
from budgets.enforce import enforce_budgets
from budgets.reports.chargeback import live_lines
from budgets.reports.models import Kind, Source
from budgets.spend import spend_of_scope
from tests.budget_factories import pinned_clock, simulated_key, user_budget
from tests.conftest import login
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def day():
    return Quarter.current().start + timedelta(days=3)


@pytest.fixture
def claude_code(db):
    return ProviderAccount.objects.create(name="Claude Code", kind="claude_code", credential="sk-ant-admin-x")


def _rows(day, email, *, cost="12.00", prs=3, lines=400) -> list[CodingUsageRow]:
    return [
        CodingUsageRow(day=day, identity=email, email=email, lines_added=lines, commits=5, pull_requests=prs,
                       accepted_suggestions=20),
        CodingUsageRow(day=day, identity=email, email=email, model="claude-sonnet-4-5", input_tokens=1000,
                       output_tokens=100, cost_usd=Decimal(cost)),
    ]  # fmt: skip


def _use(account, day, email, **figures):
    """The tool's whole day: this one person (a day is stored whole, replacing what was there)."""
    coding_day_store(account=account, day=day, rows=_rows(day, email, **figures))


def test_person_page_shows_tools_and_their_own_counts(claude_code, engineer, manager, day):
    _use(claude_code, day, engineer.email)
    copilot = ProviderAccount.objects.create(name="Copilot", kind="copilot", options={"organization": "acme"})
    coding_seats_store(account=copilot, month=day, seats=[SeatRow(identity="erin-gh", email=engineer.email)],
                       price_usd=Decimal("19.00"))  # fmt: skip
    response = login(manager).get(reverse("budgets:person", args=[engineer.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    section = page[page.index('id="person-coding"') :]
    assert "Claude Code" in section and "$12.00" in section and "$4.00" in section  # cost per PR: 12 / 3
    assert "Copilot" in section and "$19.00" in section
    assert "own counts" in section
    # Counted against the person's budgets: their quarter spend includes both.
    assert spend_of_scope(scope="user", scope_id=engineer.pk, quarter=Quarter.current()) == Decimal("31.00")


def test_person_page_without_tools_says_what_to_do(engineer):
    page = login(engineer).get(reverse("budgets:person", args=[engineer.pk])).content.decode()
    assert "No coding-tool use" in page and "An admin connects a tool" in page


def test_people_board_has_coding_columns_in_constant_queries(
    claude_code, finance, team, day, django_assert_max_num_queries
):
    def board():
        return login(finance).get(reverse("budgets:leaderboard") + f"?team={team.pk}&tab=people")

    member = UserFactory(email="one@example.com")
    MembershipFactory(user=member, team=team)
    _use(claude_code, day, member.email)
    board()  # warm the session and caches
    with django_assert_max_num_queries(60) as few:
        board()
    rows = _rows(day, member.email)
    for n in range(5):
        extra = UserFactory(email=f"more{n}@example.com")
        MembershipFactory(user=extra, team=team)
        rows += _rows(day, extra.email, cost="2.00", prs=0)
    coding_day_store(account=claude_code, day=day, rows=rows)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = board()
    page = response.content.decode()
    section = page[page.index('id="coding-tools"') :]
    assert "6 people" in section and "Claude Code" in section and "Cost per PR" in section
    assert "$12.00" in section and "$4.00" in section and "own counts" in section


def test_admin_maps_an_unmatched_identity_and_its_spend_moves(claude_code, engineer, manager, admin, day):
    _use(claude_code, day, "erin.personal@elsewhere.test")
    identity = CodingIdentity.objects.get()
    refused = login(manager).post(reverse("allocator:coding_identity_map", args=[identity.pk]), {"person": manager.pk})
    assert refused.status_code == 403 and CodingIdentity.objects.get().user is None
    client = login(admin)
    page = client.get(reverse("allocator:coding_identities")).content.decode()
    assert "erin.personal@elsewhere.test" in page[page.index('id="unmatched"') : page.index('id="matched"')]
    response = client.post(reverse("allocator:coding_identity_map", args=[identity.pk]), {"person": engineer.pk})
    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.user == engineer and identity.matched_by == CodingIdentity.MatchedBy.ADMIN
    assert DailyRollup.objects.get(account=claude_code).owner_user == engineer
    page = client.get(reverse("allocator:coding_identities")).content.decode()
    assert "Everyone is matched" in page


def test_mapping_to_an_unknown_person_is_refused_and_nothing_changes(claude_code, admin, day):
    _use(claude_code, day, "x@elsewhere.test")
    identity = CodingIdentity.objects.get()
    response = login(admin).post(reverse("allocator:coding_identity_map", args=[identity.pk]), {"person": "99999"})
    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.user is None


def test_chargeback_counts_coding_tools_as_build(claude_code, engineer, day):
    rows = _rows(day, engineer.email) + _rows(day, "nobody@elsewhere.test", cost="1.50")
    coding_day_store(account=claude_code, day=day, rows=rows)
    lines = [line for line in live_lines(quarter=Quarter.current()) if line.account_id == claude_code.pk]
    by_kind = {(line.kind, line.user_id): line for line in lines}
    mine = by_kind[(Kind.BUILD.value, engineer.pk)]
    assert (mine.cost_usd, mine.model, mine.source) == (Decimal("12.00"), "claude-sonnet-4-5", Source.ESTIMATED.value)
    assert mine.team_id == engineer.memberships.first().team_id
    assert by_kind[(Kind.UNATTRIBUTED.value, None)].cost_usd == Decimal("1.50")


def test_provider_pages_take_coding_accounts(claude_code, engineer, admin, finance, day):
    _use(claude_code, day, engineer.email)
    client = login(admin)
    assert client.get(reverse("allocator:account_detail", args=[claude_code.pk])).status_code == 200
    form = client.get(reverse("allocator:account_create") + "?kind=copilot").content.decode()
    assert "Seat price (USD a month)" in form and "Count against budgets" in form
    response = client.post(
        reverse("allocator:account_create") + "?kind=copilot",
        {"kind": "copilot", "name": "Copilot", "credential": "github_pat_x", "enabled": "on",
         "option_organization": "acme", "option_seat_price_usd": "20000000", "option_budget_policy": "show"},
    )  # fmt: skip
    assert response.status_code == 200 and not ProviderAccount.objects.filter(name="Copilot").exists()  # bounded
    assert login(finance).get(reverse("allocator:sync_status")).status_code == 200
    key_form = login(engineer).get(reverse("allocator:request_create")).content.decode()
    assert "Claude Code" not in key_form  # no keys are requested from a coding tool


def test_counted_coding_spend_spends_a_hard_budget_and_show_only_does_not(policy, simulated, engineer, team, admin):
    with pinned_clock():
        key = simulated_key(simulated, team=team, owner_user=engineer, name="erin-dev")
        user_budget(engineer, team, "10.00")
        account = ProviderAccount.objects.create(
            name="Claude Code", kind="claude_code", credential="sk-ant-admin-x", options={"budget_policy": "show"}
        )
        _use(account, timezone.now().date(), engineer.email, cost="12.00")
        enforce_budgets()
        key.refresh_from_db()
        assert key.status == Key.Status.ACTIVE  # shown only: not counted
        response = login(admin).post(
            reverse("allocator:account_edit", args=[account.pk]),
            {"kind": "claude_code", "name": "Claude Code", "enabled": "on", "option_budget_policy": "count"},
        )
        assert response.status_code == 302
        enforce_budgets()  # the stored days count at once, without waiting for a sync
        key.refresh_from_db()
        assert key.status == Key.Status.SUSPENDED
