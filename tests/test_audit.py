import csv
import io
import json

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent
from tests.conftest import login


def test_audit_events_cannot_be_changed_or_deleted_through_the_orm(admin):
    event = AuditEvent.record("policy.changed", actor=admin, target=admin, field="x")
    event.action = "something.else"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "policy.changed"


def _unchanged(event: AuditEvent) -> bool:
    return AuditEvent.objects.filter(pk=event.pk, action=event.action, details=event.details).exists()


def test_force_update_on_a_fresh_instance_cannot_rewrite_a_row(admin):
    event = AuditEvent.record("key.minted", actor=admin, target=admin, n=1)
    forged = AuditEvent(pk=event.pk, action="key.revoked", created_at=event.created_at)
    with pytest.raises(PermissionError):
        forged.save(force_update=True)
    with pytest.raises(PermissionError):
        AuditEvent(pk=event.pk, action="key.revoked").save(update_fields=["action"])
    assert _unchanged(event)


def test_saving_a_new_instance_with_an_existing_pk_inserts_and_fails(admin):
    event = AuditEvent.record("key.minted", actor=admin, target=admin, n=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent(pk=event.pk, action="key.revoked", created_at=event.created_at).save()
    assert _unchanged(event)


def test_the_base_manager_refuses_updates_and_deletes_too(admin):
    event = AuditEvent.record("key.minted", actor=admin, target=admin, n=1)
    with pytest.raises(PermissionError):
        AuditEvent._base_manager.filter(pk=event.pk).update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent._base_manager.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent._default_manager.all()._raw_delete(connection.alias)
    assert _unchanged(event)


def test_bulk_writes_cannot_rewrite_rows(admin):
    event = AuditEvent.record("key.minted", actor=admin, target=admin, n=1)
    event_copy = AuditEvent.objects.get(pk=event.pk)
    event_copy.action = "key.revoked"
    with pytest.raises(PermissionError):
        AuditEvent.objects.bulk_update([event_copy], ["action"])
    with pytest.raises(PermissionError):
        AuditEvent.objects.bulk_create(
            [AuditEvent(pk=event.pk, action="key.revoked")],
            update_conflicts=True,
            update_fields=["action"],
            unique_fields=["id"],
        )
    with pytest.raises(PermissionError):
        AuditEvent.objects.update_or_create(pk=event.pk, defaults={"action": "key.revoked"})
    assert _unchanged(event)
    AuditEvent.objects.bulk_create([AuditEvent(action="key.revoked")])  # plain inserts still work
    assert AuditEvent.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database triggers exist on PostgreSQL only")
def test_database_refuses_truncate_on_postgresql(admin):
    with connection.cursor() as cursor:
        # The test database runs with this trigger disabled so that transactional tests can flush (conftest).
        cursor.execute("ALTER TABLE accounts_auditevent ENABLE TRIGGER accounts_auditevent_no_truncate")
    event = AuditEvent.record("policy.changed", actor=admin)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the actor FK check now, not at commit
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_auditevent")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_auditevent CASCADE")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_auditevent")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database trigger exists on PostgreSQL only")
def test_database_refuses_raw_updates_on_postgresql(admin):
    event = AuditEvent.record("policy.changed", actor=admin)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_auditevent SET action = 'x' WHERE id = %s", [event.pk])


def test_admin_cannot_edit_audit_events(admin):
    event = AuditEvent.record("key.minted", actor=admin)
    client = login(admin)
    assert client.get(reverse("admin:accounts_auditevent_changelist")).status_code == 200
    assert client.post(reverse("admin:accounts_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_audit_page_lists_and_filters(finance, admin, engineer):
    AuditEvent.record("key.minted", actor=admin, target=engineer)
    AuditEvent.record("key.revoked", actor=engineer, target=engineer)
    client = login(finance)
    minted, revoked = b'"action-label">Key minted at the provider<', b'"action-label">Revoked<'
    page = client.get(reverse("accounts:audit"))
    assert minted in page.content and revoked in page.content
    filtered = client.get(reverse("accounts:audit"), {"action": "key.revoked"})
    assert revoked in filtered.content and minted not in filtered.content
    by_actor = client.get(reverse("accounts:audit"), {"actor": admin.pk})
    assert minted in by_actor.content and revoked not in by_actor.content


def test_audit_page_names_actions_readably_and_offers_them_as_filter_choices(finance, admin):
    AuditEvent.record("budget_request.approved_finance", actor=admin)
    AuditEvent.record("budget.some_new_thing", actor=admin)
    page = login(finance).get(reverse("accounts:audit")).content.decode()
    assert '<span class="action-label">Budget bump approved by finance</span>' in page
    assert '<span class="action-label">Budget some new thing</span>' in page
    assert '<option value="budget_request.approved_finance">Budget bump approved by finance</option>' in page


def test_every_recorded_action_has_a_label_for_the_timelines(admin):
    event = AuditEvent.record("key_request.approved_manager", actor=admin)
    assert event.label == "Approved by the manager"
    assert AuditEvent.objects.get(pk=event.pk).label == "Approved by the manager"


def test_audit_page_shows_long_details_in_full(finance, admin):
    reason = "over budget " * 80
    AuditEvent.record("key.revoked", actor=admin, target=admin, reason=reason, provider_key_id="key_123")
    page = login(finance).get(reverse("accounts:audit")).content.decode()
    assert f"<dt>reason</dt><dd>{reason}</dd>" in page
    assert "<dt>provider_key_id</dt><dd>key_123</dd>" in page


def test_audit_page_and_export_are_refused_to_engineers_and_managers(engineer, manager):
    for user in (engineer, manager):
        assert login(user).get(reverse("accounts:audit")).status_code == 403
        assert login(user).get(reverse("accounts:audit_export")).status_code == 403


def _csv(response) -> list[list[str]]:
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="allocator-audit-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_streams_the_filtered_events(finance, admin, engineer):
    AuditEvent.record("key.minted", actor=admin, target=engineer, account="Simulated")
    AuditEvent.record("key.revoked", actor=engineer, target=engineer, reason="left the team")
    rows = _csv(login(finance).get(reverse("accounts:audit_export"), {"action": "key.revoked"}))
    assert rows[0] == ["when_utc", "actor", "action", "label", "target_type", "target_id", "target", "details"]
    assert len(rows) == 2
    when, actor, action, label, target_type, target_id, target, details = rows[1]
    assert (actor, action, label, target_type) == (engineer.email, "key.revoked", "Revoked", "user")
    assert (target_id, target) == (str(engineer.pk), str(engineer))
    assert json.loads(details) == {"reason": "left the team"} and when.endswith("+00:00")


def test_csv_export_defuses_spreadsheet_formulas(finance, admin, engineer):
    engineer.full_name = '=HYPERLINK("https://evil.example","Open")'
    engineer.save()
    AuditEvent.record("key.revoked", actor=admin, target=engineer)
    rows = _csv(login(finance).get(reverse("accounts:audit_export")))
    assert rows[1][6] == "'" + engineer.full_name
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in rows[1])


def test_csv_export_query_count_does_not_grow_with_rows(finance, admin):
    def export_queries() -> int:
        client = login(finance)
        with CaptureQueriesContext(connection) as queries:
            _csv(client.get(reverse("accounts:audit_export")))
        return len(queries)

    for i in range(5):
        AuditEvent.record("key.minted", actor=admin, n=i)
    few = export_queries()
    for i in range(300):
        AuditEvent.record("key.minted", actor=admin, n=i)
    assert export_queries() == few


def test_audit_page_query_count_does_not_grow(finance, admin, django_assert_max_num_queries):
    for i in range(60):
        AuditEvent.record("key.minted", actor=admin, n=i)
    client = login(finance)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("accounts:audit")).status_code == 200
