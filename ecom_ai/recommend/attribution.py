"""Attribution: clicks, add-to-carts and purchases credited to the list that showed the item.

For every recorded ``click`` / ``add_to_cart`` / ``purchase`` event with an item key:

1. when its ``context.rec_id`` names a served list of the same shopper (visitor or user)
   that showed the item and was served within ``RECOMMEND_ATTRIBUTION_HOURS`` before the
   event, that list gets the credit (the JS collector sends ``rec_id`` for clicks on links
   rendered by the recommendation template tags);
2. otherwise the latest list served to the same shopper in that window that showed the
   item gets it;
3. otherwise nothing is attributed.

A list's ``clicks``, ``add_to_carts`` and ``purchases`` count attributed events; ``revenue``
adds the purchase events' ``value``. Events are stored once (idempotent client event ids),
so a retried batch is never credited twice. Called from the ``events_recorded`` receiver.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db.models import F, Q

from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger("ecom_ai.recommend")

COUNTERS = {"click": "clicks", "add_to_cart": "add_to_carts", "purchase": "purchases"}
MAX_LISTS_SCANNED = 50


def _same_shopper(lst, event) -> bool:
    return bool((lst.visitor_key and lst.visitor_key == event.visitor_key)
                or (lst.user_key and lst.user_key == event.user_key))


def _rec_id(event):
    context = event.context if isinstance(event.context, dict) else {}
    raw = context.get("rec_id")
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def find_list(event):
    """The ``RecommendationList`` to credit for ``event``, or None."""
    from ecom_ai.models import RecommendationList

    if not event.item_key or not (event.visitor_key or event.user_key):
        return None
    window = timedelta(hours=float(ecom_settings.RECOMMEND_ATTRIBUTION_HOURS))
    since, until = event.occurred_at - window, event.occurred_at + timedelta(seconds=5)
    rec_id = _rec_id(event)
    if rec_id is not None:
        lst = RecommendationList.objects.filter(pk=rec_id, created_at__gte=since, created_at__lte=until).first()
        if lst is not None and _same_shopper(lst, event) and event.item_key in lst.item_keys:
            return lst
    condition = Q()
    if event.visitor_key:
        condition |= Q(visitor_key=event.visitor_key)
    if event.user_key:
        condition |= Q(user_key=event.user_key)
    candidates = (RecommendationList.objects.filter(condition, created_at__gte=since, created_at__lte=until)
                  .order_by("-created_at")[:MAX_LISTS_SCANNED])
    for lst in candidates:
        if event.item_key in lst.item_keys:
            return lst
    return None


def attribute_events(events) -> int:
    """Credit the lists behind these events; returns how many events were attributed."""
    from ecom_ai.models import RecommendationList

    attributed = 0
    for event in events:
        counter = COUNTERS.get(event.event_type)
        if counter is None or not event.item_key:
            continue
        lst = find_list(event)
        if lst is None:
            continue
        updates = {counter: F(counter) + 1}
        if event.event_type == "purchase" and event.value is not None:
            updates["revenue"] = F("revenue") + Decimal(event.value)
        RecommendationList.objects.filter(pk=lst.pk).update(**updates)
        attributed += 1
    return attributed


def on_events_recorded(sender, events=(), **kwargs):
    try:
        attribute_events([e for e in events if e.event_type in COUNTERS])
    except Exception:  # noqa: BLE001 - attribution must never break event recording
        logger.exception("ecom_ai: recommendation attribution failed")
