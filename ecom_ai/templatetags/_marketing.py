"""Template tags of the marketing domain (merged into ``{% load ecom_ai %}``).

``{% personal_offer campaign="welcome-back" as offer %}``
    The shopper's decision in the campaign (``ecom_ai.marketing.service.OfferResult``): false
    when there is no offer; ``offer.offer`` (title, message, kind, value...), ``offer.coupon_code``,
    ``offer.decision_id``. Sticky: reloading the page shows the same offer.
``{% personal_offer_banner campaign="welcome-back" %}``
    Renders ``ecom_ai/marketing/offer.html`` (override it, or pass ``template="shop/my_offer.html"``)
    when there is an offer; it sends ``offer_shown`` (and ``offer_clicked`` on its link) through
    the JS collector with ``context.decision``, so the log is complete.

Both identify the shopper from ``request`` (or ``user=``: a host user, a user key or an
``Identity``, for e-mails rendered outside a request) and never break the page: an unknown
campaign or any error gives no offer and a logged warning.
"""

from __future__ import annotations

import logging

from django import template
from django.template.loader import get_template

from ecom_ai.marketing.service import OfferError, OfferService

logger = logging.getLogger("ecom_ai.marketing")
register = template.Library()

DEFAULT_TEMPLATE = "ecom_ai/marketing/offer.html"


def _decide(context, campaign, user, channel):
    who = context.get("request") if user is None else user
    if who is None:
        return None
    try:
        return OfferService().decide(who, campaign, {"channel": channel} if channel else None)
    except OfferError as exc:
        logger.warning("ecom_ai: {%% personal_offer %%}: %s", exc)
    except Exception:  # noqa: BLE001 - an offer must never break a page
        logger.exception("ecom_ai: personal offer for campaign %r failed", campaign)
    return None


@register.simple_tag(takes_context=True)
def personal_offer(context, campaign="", user=None, channel=None):
    return _decide(context, campaign, user, channel)


@register.simple_tag(takes_context=True)
def personal_offer_banner(context, campaign="", user=None, channel=None, template=None):
    result = _decide(context, campaign, user, channel)
    if not result:
        return ""
    return get_template(template or DEFAULT_TEMPLATE).render(
        {"offer": result, "campaign": result.campaign, "request": context.get("request")}
    )
