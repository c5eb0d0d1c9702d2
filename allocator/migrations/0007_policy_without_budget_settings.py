"""The budget settings now live in budgets.BudgetPolicy (budgets 0004 copied them there): drop them here."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('allocator', '0006_key_amounts_in_range'),
        ('budgets', '0004_budget_policy'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='policy',
            name='alert_thresholds',
        ),
        migrations.RemoveField(
            model_name='policy',
            name='finance_slack_webhook_url',
        ),
        migrations.RemoveField(
            model_name='policy',
            name='forecast_alert_days',
        ),
        migrations.RemoveField(
            model_name='policy',
            name='runaway_min_usd',
        ),
        migrations.RemoveField(
            model_name='policy',
            name='runaway_multiplier',
        ),
        migrations.RemoveField(
            model_name='policy',
            name='suspend_on_runaway',
        ),
    ]
