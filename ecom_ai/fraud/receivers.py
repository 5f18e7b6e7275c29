"""Receivers of the fraud domain. Placed orders are assessed by the order bridge
(``ecom_ai.orders``, on ``ecom_ai.signals.order_placed``), which calls ``assess_order``."""

from __future__ import annotations


def _connect_config_invalidation():
    from django.db.models.signals import post_delete, post_save

    from ecom_ai.fraud.scoring import clear_config_cache
    from ecom_ai.models.fraud import FraudListEntry, FraudRule, FraudSettings

    for model in (FraudRule, FraudListEntry, FraudSettings):
        for signal in (post_save, post_delete):
            signal.connect(
                clear_config_cache, sender=model, dispatch_uid=f"ecom_ai.fraud.config.{model.__name__}.{signal}"
            )


_connect_config_invalidation()


def _register_privacy():
    try:
        from ecom_ai.fraud.privacy import register
    except ImportError:  # the events area's privacy registry is not there
        return
    register()


_register_privacy()
