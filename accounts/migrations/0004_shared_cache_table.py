from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # The default cache (CACHE_URL unset) is a database table; create it here so `migrate` is the only set-up
    # step. createcachetable does nothing for other backends and skips a table that already exists.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    """The shared cache's table (settings.CACHES), for the database cache backend."""

    dependencies = [("accounts", "0003_audit_append_only_everywhere")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
