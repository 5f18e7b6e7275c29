"""Campaign eligibility conditions: the fraud rule language over marketing's own names.

The language itself (parsing, the whitelist of node types, evaluation without ``eval``) is
``ecom_ai.fraud.rules``, a leaf module; only the vocabulary differs. A condition such as::

    orders_90d >= 1 and channel == "app"
    days_since_last_order > 60 and monetary_365d >= 100
    not is_new and coupon_share < 0.5

is checked against ``STATE_NAMES`` (the customer state of ``ecom_ai.marketing.state``) when
the admin saves the campaign, and evaluated on the state at decision time. Missing values
are ``0`` / ``""``; a condition can never raise while deciding.
"""

from __future__ import annotations

from ecom_ai.fraud.rules import Condition, ConditionError, parse_condition

__all__ = ["STATE_NAMES", "ConditionError", "parse_eligibility", "is_eligible"]

#: name -> what it is (docs/marketing.md lists them). Numbers unless said otherwise.
STATE_NAMES = {
    "orders_total": "orders ever (purchase events grouped by order)",
    "orders_90d": "orders in the last 90 days",
    "orders_365d": "orders in the last 365 days",
    "monetary_365d": "money spent in the last 365 days",
    "average_order_value": "mean order value (all time)",
    "days_since_last_order": "days since the last order (9999: never ordered)",
    "days_since_last_visit": "days since the last event of any kind (9999: never seen)",
    "visits_30d": "events in the last 30 days",
    "views_30d": "product views in the last 30 days",
    "cart_adds_30d": "add-to-cart events in the last 30 days",
    "share_app": "share of events on the app channel (0-1)",
    "share_web": "share of events on the web channel (0-1)",
    "share_store": "share of events in stores (0-1)",
    "share_email": "share of events from e-mail (0-1)",
    "coupon_share": "share of past orders made with a coupon code (discount sensitivity, 0-1)",
    "offers_received": "offers received before (all campaigns)",
    "days_since_last_offer": "days since the last offer (9999: never)",
    "days_since_last_redemption": "days since the last redeemed offer (9999: never)",
    "is_new": "true when the customer has never ordered",
    "logged_in": "true when the decision is for a known user (not only a visitor)",
    "channel": "text: the channel asking (web, app, email...)",
    "country": 'text: the country the request or context gives, "" when unknown',
}

_KNOWN = frozenset(STATE_NAMES)


def parse_eligibility(source: str) -> Condition:
    """A validated eligibility condition; ``ConditionError`` with a readable message otherwise."""
    try:
        return parse_condition(source, known=_KNOWN)
    except ConditionError as exc:
        raise ConditionError(
            str(exc).replace("See docs/fraud.md for the feature names.", "See docs/marketing.md for the names.")
        ) from None


_CACHE: dict[str, Condition] = {}


def is_eligible(source: str, state: dict) -> bool:
    """True when ``source`` is empty or holds for ``state``; False for a condition that no longer parses."""
    if not source or not source.strip():
        return True
    condition = _CACHE.get(source)
    if condition is None:
        try:
            condition = parse_eligibility(source)
        except ConditionError:
            return False
        if len(_CACHE) > 1000:
            _CACHE.clear()
        _CACHE[source] = condition
    return condition.evaluate(state)
