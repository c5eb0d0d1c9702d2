import pytest
from django.db import DatabaseError, connection, transaction
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
