"""The demo data tells one story: a seeded key's timeline is dated when the key was made, and the summary lines
count in plain English."""

import re
from io import StringIO

from django.core.management import call_command

from accounts.models import AuditEvent, User
from allocator.models import Key
from tests.conftest import login


def test_a_demo_key_timeline_is_dated_when_the_key_was_made(db):
    call_command("seed_demo", "--no-usage", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo_usage", stdout=out, stderr=StringIO())
    assert re.search(r"\b1 new demo keys\b", out.getvalue()) is None

    erin = User.objects.get(email="engineer@example.com")
    key = Key.objects.get(owner_user=erin, name__startswith="demo-")
    events = AuditEvent.objects.filter(target_type="allocator.key", target_id=str(key.pk))
    assert {"key.minted", "key.secret_revealed"} <= set(events.values_list("action", flat=True))
    for event in AuditEvent.objects.filter(target_id__in=[str(key.pk), str(key.request_id)]):
        assert abs(event.created_at - key.created_at).total_seconds() < 3600, event.action

    page = login(erin).get(key.get_absolute_url()).content.decode()
    made = f"{key.created_at:%Y-%m-%d}"
    assert f"{made} " in page  # "Created" and every timeline entry carry the same day
    assert len(re.findall(rf'<div class="when">{made} ', page)) >= 3

    budgets = StringIO()
    call_command("seed_demo_budgets", "--enforce", stdout=budgets)
    summary = budgets.getvalue()
    assert re.search(r"\b1 (keys|alerts|key allowances)\b", summary) is None
    assert re.search(r"\d+ keys? suspended", summary)
