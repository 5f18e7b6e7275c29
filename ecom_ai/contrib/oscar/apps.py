from django.apps import AppConfig


class OscarIntegrationConfig(AppConfig):
    name = "ecom_ai.contrib.oscar"
    label = "ecom_ai_oscar"
    verbose_name = "ecom AI for django-oscar"

    def ready(self):
        from ecom_ai.contrib.oscar import receivers  # noqa: F401  connects Oscar's signals
