"""Offer decisions and coupons in user data export and erasure (``ecom_ai.events.privacy``).

Export: the user's decisions (campaign, arm, propensity, reasons, outcomes) and coupons.
Erasure deletes the decisions (of the user and of their own visitors) and the coupons
issued to them; the campaign's budget counters keep what was spent.
"""

from __future__ import annotations

from django.db.models import Q

DECISION_FIELDS = (
    "campaign__slug",
    "offer__key",
    "channel",
    "propensity",
    "is_control",
    "reasons",
    "state",
    "coupon_code",
    "created_at",
    "expires_at",
    "shown_at",
    "clicked_at",
    "redeemed_at",
    "converted_at",
    "order_key",
    "order_value",
    "discount",
)
COUPON_FIELDS = ("code", "campaign__slug", "offer__key", "created_at", "expires_at", "redeemed_at", "order_key")


def _mine(user_key: str, visitor_keys: list) -> Q:
    query = Q(user_key=user_key)
    if visitor_keys:
        query |= Q(visitor_key__in=visitor_keys, user_key="")
    return query


def export_offers(user_key: str, visitor_keys: list) -> dict:
    from ecom_ai.models.marketing import Coupon, OfferDecision

    decisions = OfferDecision.objects.filter(_mine(user_key, visitor_keys)).order_by("created_at", "pk")
    coupons = Coupon.objects.filter(_mine(user_key, visitor_keys)).order_by("created_at", "pk")
    return {"decisions": list(decisions.values(*DECISION_FIELDS)), "coupons": list(coupons.values(*COUPON_FIELDS))}


def erase_offers(user_key: str, visitor_keys: list) -> dict:
    from ecom_ai.models.marketing import Coupon, OfferDecision

    decisions, _ = OfferDecision.objects.filter(_mine(user_key, visitor_keys)).delete()
    coupons, _ = Coupon.objects.filter(_mine(user_key, visitor_keys)).delete()
    counts = {}
    if decisions:
        counts["offer_decisions"] = decisions
    if coupons:
        counts["coupons"] = coupons
    return counts


def register() -> None:
    from ecom_ai.events import privacy

    privacy.register("offers", exporter=export_offers, eraser=erase_offers)
