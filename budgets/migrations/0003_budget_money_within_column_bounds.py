"""Keep budget money within what its cents columns hold: clamp rows stored out of range, then add constraints.

On SQLite an amount like 1e30 could be stored and then raised decimal.InvalidOperation on every read. Such rows
are clamped (the filters and updates below never read the bad values back into Python).
"""

from decimal import Decimal

from django.conf import settings
from django.db import migrations, models

COLUMN_MAX_USD = Decimal("9999999999.99")  # as allocator.money.COLUMN_MAX_USD when this was written


def clamp_out_of_range_amounts(apps, schema_editor):
    Budget = apps.get_model("budgets", "Budget")
    BudgetRequest = apps.get_model("budgets", "BudgetRequest")
    KeyEnforcement = apps.get_model("budgets", "KeyEnforcement")
    Budget.objects.filter(amount_usd__gt=COLUMN_MAX_USD).update(amount_usd=COLUMN_MAX_USD)
    Budget.objects.filter(amount_usd__lt=0).update(amount_usd=Decimal("0"))
    BudgetRequest.objects.filter(amount_usd__gt=COLUMN_MAX_USD).update(amount_usd=COLUMN_MAX_USD)
    KeyEnforcement.objects.filter(provider_limit_usd__gt=COLUMN_MAX_USD).update(provider_limit_usd=COLUMN_MAX_USD)
    KeyEnforcement.objects.filter(provider_limit_usd__lt=0).update(provider_limit_usd=Decimal("0"))


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_audit_append_only'),
        ('allocator', '0003_usage_fact_tables_without_db_constraints'),
        ('budgets', '0002_budget_request_for_key_allowance'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(clamp_out_of_range_amounts, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='budget',
            constraint=models.CheckConstraint(condition=models.Q(('amount_usd__lte', Decimal('9999999999.99'))), name='budget_amount_fits_column'),
        ),
        migrations.AddConstraint(
            model_name='budgetrequest',
            constraint=models.CheckConstraint(condition=models.Q(('amount_usd__lte', Decimal('9999999999.99'))), name='budget_request_amount_fits_column'),
        ),
        migrations.AddConstraint(
            model_name='keyenforcement',
            constraint=models.CheckConstraint(condition=models.Q(('provider_limit_usd__isnull', True), models.Q(('provider_limit_usd__gte', 0), ('provider_limit_usd__lte', Decimal('9999999999.99'))), _connector='OR'), name='key_enforcement_provider_limit_fits_column'),
        ),
    ]
