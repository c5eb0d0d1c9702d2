from django.apps import AppConfig


class AllocatorConfig(AppConfig):
    name = "allocator"
    verbose_name = "Providers, keys and usage"
    default_auto_field = "django.db.models.BigAutoField"
