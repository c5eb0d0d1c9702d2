"""Re-encrypt every secret at rest with the first key in ALLOCATOR_ENCRYPTION_KEYS.

Rotation: prepend a new key to ALLOCATOR_ENCRYPTION_KEYS (keep the old ones), deploy, run this command,
then drop the old keys.
"""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from accounts.models import Team
from allocator.crypto import EncryptedTextField, rotate
from allocator.models import Key, ProviderAccount
from budgets.models import BudgetPolicy

MODELS = [ProviderAccount, Key, Team, BudgetPolicy]


class Command(BaseCommand):
    help = "Re-encrypt provider credentials, pending key secrets and webhook URLs with the newest key."

    def handle(self, *args, **options):
        total = 0
        for model in MODELS:
            fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            table = connection.ops.quote_name(model._meta.db_table)
            for field in fields:
                column = connection.ops.quote_name(field.column)
                with transaction.atomic(), connection.cursor() as cursor:
                    # Raw SQL on purpose: the field would decrypt on read, and we want the ciphertext.
                    cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
                    rows = cursor.fetchall()
                    for pk, token in rows:
                        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [rotate(token), pk])  # noqa: S608
                    total += len(rows)
                    if rows:
                        self.stdout.write(f"{model._meta.label}.{field.name}: {len(rows)} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} secrets re-encrypted with the newest key."))
