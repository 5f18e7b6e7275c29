"""Customer state: what a policy knows about a customer when it decides.

``customer_state(...)`` is a pure function of the customer's recent events (all channels),
their past offer decisions and the request's context; ``load_customer_state(identity)``
reads those from the database (two indexed queries) and calls it. The state is a flat dict
over ``ecom_ai.marketing.conditions.STATE_NAMES``: eligibility conditions read it, it is
logged with every decision, and ``state_vector`` turns it into the policy networks' input.

Recency, frequency, monetary value, channel mix, browsing intensity, discount sensitivity
(share of past orders made with a coupon) and days since the last offer / redemption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import numpy as np

NEVER = 9999.0
HISTORY_DAYS = 365
MAX_EVENTS = 2000


@dataclass(frozen=True)
class Identity:
    """Whom a decision is for: a user key, a visitor key, or both (the user wins)."""

    user_key: str = ""
    visitor_key: str = ""
    channel: str = "web"
    country: str = ""

    @property
    def subject_key(self) -> str:
        if self.user_key:
            return f"u:{self.user_key}"[:80]
        return f"v:{self.visitor_key}"[:80] if self.visitor_key else ""

    def __bool__(self):
        return bool(self.user_key or self.visitor_key)


def resolve_identity(who, *, channel: str | None = None) -> Identity:
    """An ``Identity`` from an Identity, a dict, a host user, a request, a user key string or None."""
    if isinstance(who, Identity):
        return who if channel is None else Identity(who.user_key, who.visitor_key, channel, who.country)
    if who is None:
        return Identity(channel=channel or "web")
    if isinstance(who, str):
        return Identity(user_key=who[:64], channel=channel or "web")
    if isinstance(who, dict):
        return Identity(
            user_key=str(who.get("user_key") or "")[:64],
            visitor_key=str(who.get("visitor_key") or "")[:64],
            channel=str(channel or who.get("channel") or "web")[:32],
            country=str(who.get("country") or "")[:8],
        )
    if hasattr(who, "META") and hasattr(who, "method"):  # an HttpRequest
        from ecom_ai.adapters import get_adapter
        from ecom_ai.events.middleware import get_visitor_key

        user = getattr(who, "user", None)
        user_key = get_adapter().user_key(user) if getattr(user, "is_authenticated", False) else ""
        return Identity(user_key=user_key, visitor_key=get_visitor_key(who) or "", channel=channel or "web")
    if getattr(who, "is_authenticated", False):  # a host user
        from ecom_ai.adapters import get_adapter

        return Identity(user_key=get_adapter().user_key(who), channel=channel or "web")
    return Identity(channel=channel or "web")


def _days(now: datetime, then: datetime | None) -> float:
    if then is None:
        return NEVER
    return max(0.0, (now - then).total_seconds() / 86400.0)


def customer_state(
    events, decisions, *, now: datetime, channel: str = "web", logged_in: bool = False, country: str = ""
) -> dict:
    """The state from ``events`` — ``(event_type, channel, occurred_at, value, context)`` tuples — and
    ``decisions`` — ``(created_at, had_offer, redeemed_at)`` tuples. Pure: no database."""
    orders: dict[str, list] = {}  # order id -> [time, value, with coupon]
    channels: dict[str, int] = {}
    total = visits_30 = views_30 = carts_30 = 0
    last_seen = None
    day30 = now - timedelta(days=30)
    for event_type, event_channel, occurred, value, context in events:
        total += 1
        channels[event_channel] = channels.get(event_channel, 0) + 1
        if last_seen is None or occurred > last_seen:
            last_seen = occurred
        if occurred >= day30:
            visits_30 += 1
            if event_type == "view":
                views_30 += 1
            elif event_type == "add_to_cart":
                carts_30 += 1
        if event_type == "purchase":
            context = context if isinstance(context, dict) else {}
            order_id = str(context.get("order_key") or context.get("order") or occurred.isoformat())
            entry = orders.setdefault(order_id, [occurred, 0.0, False])
            entry[1] += float(value or 0)
            entry[2] = entry[2] or bool(context.get("coupons"))
    order_times = [o[0] for o in orders.values()]
    order_values = [o[1] for o in orders.values()]
    day90, day365 = now - timedelta(days=90), now - timedelta(days=365)
    last_order = max(order_times) if order_times else None
    offers = [d for d in decisions if d[1]]
    last_offer = max((d[0] for d in offers), default=None)
    last_redeemed = max((d[2] for d in offers if d[2] is not None), default=None)

    def share(name: str) -> float:
        return channels.get(name, 0) / total if total else 0.0

    return {
        "orders_total": len(orders),
        "orders_90d": sum(1 for t in order_times if t >= day90),
        "orders_365d": sum(1 for t in order_times if t >= day365),
        "monetary_365d": round(sum(v for t, v in zip(order_times, order_values) if t >= day365), 2),
        "average_order_value": round(sum(order_values) / len(order_values), 2) if order_values else 0.0,
        "days_since_last_order": round(_days(now, last_order), 2),
        "days_since_last_visit": round(_days(now, last_seen), 2),
        "visits_30d": visits_30,
        "views_30d": views_30,
        "cart_adds_30d": carts_30,
        "share_app": round(share("app"), 4),
        "share_web": round(share("web"), 4),
        "share_store": round(share("store"), 4),
        "share_email": round(share("email"), 4),
        "coupon_share": round(sum(1 for o in orders.values() if o[2]) / len(orders), 4) if orders else 0.0,
        "offers_received": len(offers),
        "days_since_last_offer": round(_days(now, last_offer), 2),
        "days_since_last_redemption": round(_days(now, last_redeemed), 2),
        "is_new": not orders,
        "logged_in": bool(logged_in),
        "channel": str(channel or ""),
        "country": str(country or ""),
    }


def who_filter(identity: Identity):
    """The ``Q`` of an identity's rows (events, decisions): its user key, else its anonymous visitor key."""
    from django.db.models import Q

    if identity.user_key:
        return Q(user_key=identity.user_key[:64])
    return Q(visitor_key=identity.visitor_key[:64], user_key="")


def _events_query(field):
    def build(key, since):
        from ecom_ai.models import Event

        who = {"user_key": key} if field == "user_key" else {"visitor_key": key, "user_key": ""}
        return (
            Event.objects.filter(occurred_at__gte=since, **who)
            .order_by("-occurred_at")
            .values_list("event_type", "channel", "occurred_at", "value", "context")[:MAX_EVENTS]
        )

    from ecom_ai.models.rows import Prepared

    return Prepared(
        build,
        {"key": "\x01sentinel-key", "since": datetime(1901, 2, 3, 4, 5, 6, 7, tzinfo=dt_timezone.utc)},
        {"since": "datetime"},
    )


#: a customer's recent events (compiled once per connection): by user key, or by anonymous visitor key
_EVENTS_BY_USER = _events_query("user_key")
_EVENTS_BY_VISITOR = _events_query("visitor_key")


def load_customer_state(
    identity: Identity, *, now: datetime | None = None, context: dict | None = None, decisions=None
) -> dict:
    """The state of ``identity`` now, read from the event log and past offer decisions.

    ``decisions`` — ``(created_at, had_offer, redeemed_at)`` of the last year, when the caller has
    read them already (``OfferService.decide`` does, in its one history query) — saves a query."""
    from django.utils import timezone

    from ecom_ai.models import Event
    from ecom_ai.models.marketing import OfferDecision

    now = now or timezone.now()
    since = now - timedelta(days=HISTORY_DAYS)
    events = []
    if identity:
        if identity.user_key:
            events = _EVENTS_BY_USER.rows(Event, key=identity.user_key[:64], since=since)
        else:
            events = _EVENTS_BY_VISITOR.rows(Event, key=identity.visitor_key[:64], since=since)
        if decisions is None:
            decisions = [
                (created, offer_id is not None, redeemed)
                for created, offer_id, redeemed in OfferDecision.objects.filter(
                    who_filter(identity), created_at__gte=since
                ).values_list("created_at", "offer_id", "redeemed_at")[:MAX_EVENTS]
            ]
    else:
        decisions = []
    context = context or {}
    return customer_state(
        events,
        decisions,
        now=now,
        channel=str(context.get("channel") or identity.channel),
        logged_in=bool(identity.user_key),
        country=str(context.get("country") or identity.country or ""),
    )


# --------------------------------------------------------------------------- vectors

#: numeric inputs of the policy networks, in order (log1p for counts and money, days capped)
VECTOR_NAMES = (
    "orders_total",
    "orders_90d",
    "orders_365d",
    "monetary_365d",
    "average_order_value",
    "days_since_last_order",
    "days_since_last_visit",
    "visits_30d",
    "views_30d",
    "cart_adds_30d",
    "share_app",
    "share_web",
    "share_store",
    "share_email",
    "coupon_share",
    "offers_received",
    "days_since_last_offer",
    "days_since_last_redemption",
    "is_new",
    "logged_in",
)
_LOG = {
    "orders_total",
    "orders_90d",
    "orders_365d",
    "monetary_365d",
    "average_order_value",
    "visits_30d",
    "views_30d",
    "cart_adds_30d",
    "offers_received",
}
_DAYS = {"days_since_last_order", "days_since_last_visit", "days_since_last_offer", "days_since_last_redemption"}


def _number(value) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float, Decimal)):
        value = float(value)
        return value if math.isfinite(value) else 0.0
    return 0.0


def state_vector(state: dict) -> np.ndarray:
    """The numeric input of the policy networks for one state (``len(VECTOR_NAMES)`` floats)."""
    out = np.zeros(len(VECTOR_NAMES), dtype=np.float32)
    for index, name in enumerate(VECTOR_NAMES):
        value = _number(state.get(name))
        if name in _LOG:
            value = math.log1p(max(0.0, value))
        elif name in _DAYS:
            value = min(max(value, 0.0), 400.0) / 100.0
        out[index] = value
    return out


def state_matrix(states) -> np.ndarray:
    states = list(states)
    if not states:
        return np.zeros((0, len(VECTOR_NAMES)), dtype=np.float32)
    return np.stack([state_vector(s) for s in states])
