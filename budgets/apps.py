from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"
    verbose_name = "Budgets, alerts and chargeback"
    default_auto_field = "django.db.models.BigAutoField"
