"""The budget policy (alert thresholds, runaway detection, forecast warnings, finance webhook) moves from
allocator.Policy to its own one-row model here; allocator 0007 then drops the old columns.

The values of the existing policy row are copied, the webhook as stored: the ciphertext is copied in SQL, so
nothing is decrypted and a row encrypted with an older key in ALLOCATOR_ENCRYPTION_KEYS still moves.
"""

import django.db.models.deletion
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models

import allocator.crypto
import budgets.models

MOVED = ["alert_thresholds", "runaway_multiplier", "runaway_min_usd", "suspend_on_runaway", "forecast_alert_days"]
WEBHOOK = "finance_slack_webhook_url"
DEFAULT_THRESHOLDS = [50, 80, 100]  # as budgets.models.DEFAULT_THRESHOLDS when this was written


def _copy_webhook(schema_editor, *, source, target) -> None:
    """Copy the encrypted webhook of row 1 from one table to the other, ciphertext unchanged."""
    quote = schema_editor.connection.ops.quote_name
    column = quote(WEBHOOK)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {quote(source._meta.db_table)} WHERE id = 1")  # noqa: S608
        (token,) = cursor.fetchone()
        cursor.execute(f"UPDATE {quote(target._meta.db_table)} SET {column} = %s WHERE id = 1", [token])  # noqa: S608


def copy_from_policy(apps, schema_editor):
    Policy = apps.get_model("allocator", "Policy")
    BudgetPolicy = apps.get_model("budgets", "BudgetPolicy")
    row = Policy.objects.filter(pk=1).values(*MOVED, "updated_by_id").first()
    if row is None:
        return
    row["alert_thresholds"] = row["alert_thresholds"] or DEFAULT_THRESHOLDS
    BudgetPolicy.objects.update_or_create(pk=1, defaults=row)
    _copy_webhook(schema_editor, source=Policy, target=BudgetPolicy)


def copy_back_to_policy(apps, schema_editor):
    Policy = apps.get_model("allocator", "Policy")
    BudgetPolicy = apps.get_model("budgets", "BudgetPolicy")
    row = BudgetPolicy.objects.filter(pk=1).values(*MOVED).first()
    if row is None:
        return
    Policy.objects.update_or_create(pk=1, defaults=row)
    _copy_webhook(schema_editor, source=BudgetPolicy, target=Policy)


class Migration(migrations.Migration):

    dependencies = [
        ('allocator', '0006_key_amounts_in_range'),
        ('budgets', '0003_budget_money_within_column_bounds'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='BudgetPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('alert_thresholds', models.JSONField(default=budgets.models.default_thresholds, help_text='Percent of budget, e.g. [50, 80, 100]; each crossing alerts once.')),
                ('runaway_multiplier', models.DecimalField(decimal_places=2, default=Decimal('5.00'), max_digits=6)),
                ('runaway_min_usd', models.DecimalField(decimal_places=2, default=Decimal('10.00'), max_digits=12)),
                ('suspend_on_runaway', models.BooleanField(default=False)),
                ('forecast_alert_days', models.PositiveIntegerField(default=14)),
                ('finance_slack_webhook_url', allocator.crypto.EncryptedTextField(blank=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'budget policy',
                'verbose_name_plural': 'budget policy',
            },
        ),
        migrations.RunPython(copy_from_policy, copy_back_to_policy),
    ]
