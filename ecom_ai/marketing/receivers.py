"""Receivers of the marketing domain: orders credit offer decisions, offer events stamp them,
and decisions and coupons join the user data export / erasure (``ecom_ai.events.privacy``)."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from ecom_ai.signals import events_recorded, order_recorded

logger = logging.getLogger("ecom_ai.marketing")


@receiver(order_recorded, dispatch_uid="ecom_ai.marketing.order_recorded")
def credit_recorded_order(sender, record=None, events=None, **kwargs):
    if record is None:
        return
    from ecom_ai.marketing.attribution import credit_order

    try:
        credit_order(record)
    except Exception:
        logger.exception("ecom_ai: could not credit offer decisions for order %r", getattr(record, "number", ""))


@receiver(events_recorded, dispatch_uid="ecom_ai.marketing.events_recorded")
def stamp_offer_events(sender, events=None, **kwargs):
    if not events or not any(getattr(e, "event_type", "").startswith("offer_") for e in events):
        return
    from ecom_ai.marketing.attribution import mark_events

    try:
        mark_events(events)
    except Exception:
        logger.exception("ecom_ai: could not stamp offer events")


def _connect_cache_invalidation():
    from django.core.signals import setting_changed
    from django.db.models.signals import post_delete, post_save

    from ecom_ai.marketing.service import clear_campaign_cache
    from ecom_ai.models.marketing import Campaign, Offer

    for model in (Campaign, Offer):
        for signal in (post_save, post_delete):
            signal.connect(
                clear_campaign_cache, sender=model, dispatch_uid=f"ecom_ai.marketing.cache.{model.__name__}.{signal}"
            )
    setting_changed.connect(clear_campaign_cache, dispatch_uid="ecom_ai.marketing.cache.settings")


_connect_cache_invalidation()


def _register_privacy():
    from ecom_ai.marketing.privacy import register

    register()


_register_privacy()
