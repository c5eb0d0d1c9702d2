"""The coding identities page (admin) answers in the same number of queries however many identities it lists,
unmatched (each with a picker over one list of people) or mapped by hand; a person is picked by email."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.urls import reverse

from accounts.models import User
from allocator.coding.models import CodingIdentity
from allocator.coding.store import coding_day_store, coding_identity_map
from allocator.models import ProviderAccount
from allocator.providers.coding import CodingUsageRow
from allocator.quarters import Quarter
from tests.conftest import login
from tests.factories import UserFactory


def _store(account, emails: list[str]) -> None:
    day = Quarter.current().start + timedelta(days=2)
    rows = [CodingUsageRow(day=day, identity=e, email=e, model="m", cost_usd=Decimal("1.00")) for e in emails]
    coding_day_store(account=account, day=day, rows=rows)


def _map(admin, n: int) -> None:
    for identity in CodingIdentity.objects.filter(user__isnull=True).order_by("pk")[:n]:
        coding_identity_map(identity=identity, user=UserFactory(), by=admin)


def test_identities_page_queries_do_not_grow(admin, django_assert_max_num_queries):
    account = ProviderAccount.objects.create(name="Claude Code", kind="claude_code", credential="sk-ant-admin-x")
    _store(account, [f"x{n}@elsewhere.test" for n in range(3)])
    _map(admin, 1)
    client = login(admin)
    url = reverse("allocator:coding_identities")
    client.get(url)
    with django_assert_max_num_queries(100) as few:
        client.get(url)
    _store(account, [f"x{n}@elsewhere.test" for n in range(12)])
    _map(admin, 4)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(url).content.decode()
    unmatched = page[page.index('id="unmatched"') : page.index('id="matched"')]
    assert unmatched.count('list="coding-people"') == 7 and unmatched.count("<datalist") == 1  # people listed once
    assert unmatched.count("<option") == User.objects.filter(is_active=True).count()
    assert page[page.index('id="matched"') :].count("Unmap") == 5


def test_admin_maps_by_email_whatever_its_case_and_an_unknown_one_changes_nothing(admin, engineer):
    account = ProviderAccount.objects.create(name="Claude Code", kind="claude_code", credential="sk-ant-admin-x")
    _store(account, ["erin.home@elsewhere.test"])
    identity = CodingIdentity.objects.get()
    url = reverse("allocator:coding_identity_map", args=[identity.pk])
    client = login(admin)
    response = client.post(url, {"email": "nobody@example.com"}, follow=True)
    assert "Nobody here has the email nobody@example.com." in response.content.decode()
    identity.refresh_from_db()
    assert identity.user is None
    client.post(url, {"email": engineer.email.upper()})
    identity.refresh_from_db()
    assert identity.user == engineer and identity.matched_by == CodingIdentity.MatchedBy.ADMIN
