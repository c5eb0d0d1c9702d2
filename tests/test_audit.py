import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
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
    page = client.get(reverse("accounts:audit"))
    assert b"key.minted" in page.content and b"key.revoked" in page.content
    filtered = client.get(reverse("accounts:audit"), {"action": "key.revoked"})
    assert b"<code>key.revoked</code>" in filtered.content and b"<code>key.minted</code>" not in filtered.content
    by_actor = client.get(reverse("accounts:audit"), {"actor": admin.pk})
    assert b"<code>key.minted</code>" in by_actor.content and b"<code>key.revoked</code>" not in by_actor.content


def test_audit_page_query_count_does_not_grow(finance, admin, django_assert_max_num_queries):
    for i in range(60):
        AuditEvent.record("key.minted", actor=admin, n=i)
    client = login(finance)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("accounts:audit")).status_code == 200
