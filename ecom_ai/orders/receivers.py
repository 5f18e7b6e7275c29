"""The order bridge listens to ``ecom_ai.signals.order_placed`` (sent by the host)."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from ecom_ai.signals import order_placed

logger = logging.getLogger("ecom_ai.orders")


@receiver(order_placed, dispatch_uid="ecom_ai.orders.order_placed")
def record_placed_order(sender, order=None, request=None, **kwargs):
    if order is None:
        return
    from ecom_ai.orders.bridge import record_order

    record_order(order, request=request)
