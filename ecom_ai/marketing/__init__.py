"""Personal offers: campaigns, learned offer policies, off-policy evaluation, coupons.

The entry points (plain Python, no HTTP)::

    from ecom_ai.marketing.service import OfferService
    result = OfferService().decide(identity, "welcome-back")   # offer or none, decision id, propensity, reasons

    from ecom_ai import marketing
    marketing.redeem("K7Q2-XM4P-9RTA", order)                   # once; a replayed or guessed code is refused

See docs/marketing.md.
"""

from __future__ import annotations


def redeem(code, order=None, *, order_key: str = "", order_value=None, user_key: str | None = None):
    """Redeem a single-use coupon code for an order (see ``ecom_ai.marketing.coupons.redeem``)."""
    from ecom_ai.marketing.coupons import redeem as _redeem

    return _redeem(code, order, order_key=order_key, order_value=order_value, user_key=user_key)
