"""Outcomes of offer decisions, from the order bridge and the offer events.

``credit_order(record)`` is called for every recorded order (``ecom_ai.signals.order_recorded``):

* a coupon code on the order (``record.coupon_codes``, from the adapter) credits the decision
  that issued it: redeemed, converted, order value and discount;
* otherwise the order converts the user's open decisions (not expired, no order yet, made
  before the order) — also "no offer" and control decisions, so the lift against control
  is measured on the same footing.

Offer events (``offer_shown``, ``offer_clicked``, ``offer_redeemed`` with ``context.decision``)
stamp ``shown_at`` / ``clicked_at`` (``mark_events``). Each write is conditional, so a
re-sent order or event never counts twice.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger("ecom_ai.marketing")

EVENT_FIELDS = {"offer_shown": "shown_at", "offer_clicked": "clicked_at"}


def credit_order(record) -> int:
    """Credit the decisions an order converts; returns how many were updated."""
    from ecom_ai.models.marketing import Coupon, OfferDecision, normalize_code

    when = record.created_at or timezone.now()
    total = record.total
    margin = getattr(record, "margin", None)
    updated = 0
    codes = [normalize_code(code) for code in (record.coupon_codes or []) if code]
    for code in codes:
        decision = (
            OfferDecision.objects.filter(coupon_code=code).select_related("offer").order_by("-created_at").first()
        )
        if decision is None or (decision.order_key and decision.order_key != record.key):
            continue
        discount = decision.offer.discount_for(total) if decision.offer is not None else Decimal("0")
        updated += OfferDecision.objects.filter(pk=decision.pk, order_key__in=("", record.key)).update(
            redeemed_at=decision.redeemed_at or when,
            converted_at=decision.converted_at or when,
            order_key=record.key,
            order_value=total,
            order_margin=margin,
            discount=discount,
        )
        Coupon.objects.filter(code=code, redeemed_at__isnull=True).update(redeemed_at=when, order_key=record.key)
    if record.user_key:
        open_decisions = OfferDecision.objects.filter(
            Q(expires_at__gte=when), user_key=record.user_key, created_at__lte=when, order_key=""
        )
        if codes:
            open_decisions = open_decisions.exclude(coupon_code__in=codes)
        updated += open_decisions.update(
            converted_at=when, order_key=record.key, order_value=total, order_margin=margin
        )
    return updated


def mark_events(events) -> int:
    """Stamp shown/clicked times from ``offer_*`` events carrying ``context["decision"]``."""
    from ecom_ai.models.marketing import OfferDecision

    updated = 0
    for event in events:
        column = EVENT_FIELDS.get(getattr(event, "event_type", ""))
        if column is None:
            continue
        context = event.context if isinstance(event.context, dict) else {}
        try:
            decision_id = int(context.get("decision"))
        except (TypeError, ValueError):
            continue
        who = Q(user_key=event.user_key) if event.user_key else Q(visitor_key=event.visitor_key)
        updated += OfferDecision.objects.filter(who, pk=decision_id, **{f"{column}__isnull": True}).update(
            **{column: event.occurred_at}
        )
    return updated
