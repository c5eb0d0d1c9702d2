import io

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from allocator.models import ProviderAccount


def _stored(account):
    with connection.cursor() as cursor:
        cursor.execute("SELECT credential FROM allocator_provideraccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def test_rotation_reencrypts_with_the_new_key(db, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ALLOCATOR_ENCRYPTION_KEYS = [old]
    account = ProviderAccount.objects.create(name="or", kind="openrouter", credential="sk-or-mgmt-secret")
    token = _stored(account)
    assert Fernet(old.encode()).decrypt(token.encode()) == b"sk-or-mgmt-secret"

    settings.ALLOCATOR_ENCRYPTION_KEYS = [new, old]  # new key first, old still decrypts
    assert ProviderAccount.objects.get(pk=account.pk).credential == "sk-or-mgmt-secret"
    out = io.StringIO()
    call_command("rotate_encryption", stdout=out)
    assert "1 secrets re-encrypted" in out.getvalue()

    settings.ALLOCATOR_ENCRYPTION_KEYS = [new]  # the old key can now be dropped
    assert Fernet(new.encode()).decrypt(_stored(account).encode()) == b"sk-or-mgmt-secret"
    assert ProviderAccount.objects.get(pk=account.pk).credential == "sk-or-mgmt-secret"
