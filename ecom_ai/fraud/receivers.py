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
