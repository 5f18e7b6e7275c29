"""Single-use coupon codes: ecom_ai's own store, for shops without a voucher system.

``issue(offer, user_key=..., visitor_key=...)`` creates a unique code (12 random characters
from an alphabet without look-alikes, ~60 bits: guessing one is hopeless) valid for the
offer's ``validity_days``. ``redeem(code, order)`` marks it used by one order with a
conditional ``UPDATE`` — a replayed, expired, unknown (guessed) or someone else's code is
refused with ``CouponRefused`` and a reason. Shops with their own vouchers (e.g. Oscar)
override ``issue_coupon`` / ``order_coupon_codes`` on the adapter (docs/marketing.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone


class CouponRefused(Exception):
    """A code that cannot be redeemed; ``reason`` is one of unknown, redeemed, expired, not_yours."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass
class Redemption:
    code: str
    order_key: str
    offer_id: int | None
    campaign_id: int | None
    discount: Decimal


def normalize(code) -> str:
    from ecom_ai.models.marketing import normalize_code

    return normalize_code(code)


def issue(offer, *, user_key: str = "", visitor_key: str = "", now=None) -> str:
    """Create and store a unique code for ``offer`` (ecom_ai's own ``Coupon`` store); return it."""
    from ecom_ai.models.marketing import Coupon

    return Coupon.objects.issue(offer, user_key=user_key, visitor_key=visitor_key, now=now)


def redeem(code, order=None, *, order_key: str = "", order_value=None, user_key: str | None = None) -> Redemption:
    """Use ``code`` once for an order (a host order, or ``order_key``); ``CouponRefused`` otherwise.

    ``user_key`` (optional) must match the user the code was issued to, when it was issued to one.
    The decision that issued the code is credited (redeemed, order, discount).
    """
    from ecom_ai.adapters import get_adapter
    from ecom_ai.models.marketing import Coupon, OfferDecision

    normalized = normalize(code)
    if order is not None:
        adapter = get_adapter()
        record = adapter.order_record(order)
        order_key = order_key or record.key
        order_value = record.total if order_value is None else order_value
        user_key = record.user_key if user_key is None else user_key
    order_key = str(order_key or "")[:191]
    if not normalized or not order_key:
        raise CouponRefused("unknown", "A coupon code and an order are required.")
    now = timezone.now()
    with transaction.atomic():
        coupon = Coupon.objects.select_related("offer").filter(code=normalized).first()
        if coupon is None:
            raise CouponRefused("unknown", "This coupon code does not exist.")
        if coupon.redeemed_at is not None:
            if coupon.order_key == order_key:  # the same order again: idempotent
                return Redemption(coupon.code, order_key, coupon.offer_id, coupon.campaign_id, Decimal("0"))
            raise CouponRefused("redeemed", "This coupon code has already been used.")
        if coupon.expires_at is not None and coupon.expires_at <= now:
            raise CouponRefused("expired", "This coupon code has expired.")
        if coupon.user_key and user_key is not None and user_key != coupon.user_key:
            raise CouponRefused("not_yours", "This coupon code belongs to another customer.")
        used = Coupon.objects.filter(pk=coupon.pk, redeemed_at__isnull=True).update(
            redeemed_at=now, order_key=order_key
        )
        if not used:  # another process redeemed it a moment ago
            raise CouponRefused("redeemed", "This coupon code has already been used.")
        value = Decimal(str(order_value)) if order_value is not None else None
        discount = coupon.offer.discount_for(value) if coupon.offer is not None else Decimal("0")
        OfferDecision.objects.filter(coupon_code=coupon.code, redeemed_at__isnull=True).update(
            redeemed_at=now, converted_at=now, order_key=order_key, order_value=value, discount=discount
        )
    return Redemption(coupon.code, order_key, coupon.offer_id, coupon.campaign_id, discount)


def validate(code, *, user_key: str | None = None):
    """The open coupon for ``code`` (for a checkout to show the discount), or None."""
    from ecom_ai.models.marketing import Coupon

    coupon = Coupon.objects.select_related("offer").filter(code=normalize(code), redeemed_at__isnull=True).first()
    if coupon is None or (coupon.expires_at is not None and coupon.expires_at <= timezone.now()):
        return None
    if coupon.user_key and user_key is not None and user_key != coupon.user_key:
        return None
    return coupon
