from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EcomAIConfig(AppConfig):
    name = "ecom_ai"
    verbose_name = _("ecom AI")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from ecom_ai import checks  # noqa: F401  registers system checks
        from ecom_ai import receivers  # noqa: F401  connects signal receivers
        from ecom_ai.fraud import scoring
        from ecom_ai.recommend import attribution
        from ecom_ai.tasks.fraud import enqueue_assessment
        from ecom_ai.tasks.recommend import enqueue_attribution

        # the domains never import the task layer: it is handed to them here
        scoring.set_dispatcher(enqueue_assessment)
        attribution.set_dispatcher(enqueue_attribution)

        from ecom_ai.chat import warmup
        from ecom_ai.conf import settings as ecom_settings

        if ecom_settings.CHAT_WARM_UP and warmup.serving_process():  # never in a shopper's first request
            warmup.start_warm_up()
