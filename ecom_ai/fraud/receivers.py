"""Assess orders when the host sends ``ecom_ai.signals.order_placed``."""
from __future__ import annotations

import logging

from django.dispatch import receiver

from ecom_ai.signals import order_placed

logger = logging.getLogger("ecom_ai.fraud")


@receiver(order_placed, dispatch_uid="ecom_ai.fraud.order_placed")
def assess_placed_order(sender, order=None, request=None, **kwargs):
    if order is None:
        return
    try:
        from ecom_ai.fraud.scoring import assess_order

        assess_order(order, request=request)
    except Exception:  # never break the checkout
        logger.exception("ecom_ai: fraud assessment could not be started for a placed order")


def _connect_config_invalidation():
    from django.db.models.signals import post_delete, post_save

    from ecom_ai.fraud.scoring import clear_config_cache
    from ecom_ai.models.fraud import FraudListEntry, FraudRule, FraudSettings

    for model in (FraudRule, FraudListEntry, FraudSettings):
        for signal in (post_save, post_delete):
            signal.connect(clear_config_cache, sender=model, dispatch_uid=f"ecom_ai.fraud.config.{model.__name__}.{signal}")


_connect_config_invalidation()


def _register_privacy():
    try:
        from ecom_ai.fraud.privacy import register
    except ImportError:  # the events area's privacy registry is not there
        return
    register()


_register_privacy()
