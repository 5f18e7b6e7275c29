"""django-oscar's signals, turned into ecom_ai events and order records.

| Oscar signal | ecom_ai |
|---|---|
| ``order.signals.order_placed`` (no request) | the order bridge (``ecom_ai.record_order``) with the request being handled: purchases on commit, fraud assessment |
| ``basket.signals.basket_addition`` | an ``add_to_cart`` event (quantity from the form) |
| ``catalogue.signals.product_viewed`` | a ``view`` event (server side: no template attribute needed) |
| ``search.signals.user_search`` (no request) | a ``search`` event with the query |

Stock record and category changes are the adapter's ``related_models`` (see
``ecom_ai.catalog.receivers``). Analytics never break a shop page: errors are logged.
"""

from __future__ import annotations

import logging

from oscar.apps.basket.signals import basket_addition
from oscar.apps.catalogue.signals import product_viewed
from oscar.apps.order.signals import order_placed
from oscar.apps.search.signals import user_search

logger = logging.getLogger("ecom_ai.contrib.oscar")


def _track(event_type: str, request, **fields):
    import ecom_ai

    try:
        return ecom_ai.track(event_type, request=request, **fields)
    except Exception:  # noqa: BLE001 - analytics must never break the shop
        logger.exception("ecom_ai: could not record an Oscar %s event", event_type)
        return None


def _item_key(product) -> str:
    from ecom_ai.adapters import get_adapter

    return get_adapter().item_key(product)


def record_oscar_order(sender, order=None, user=None, **kwargs):
    if order is None:
        return
    from ecom_ai.orders.bridge import record_order

    record_order(order, request=kwargs.get("request"))  # None: the request being handled


def track_basket_addition(sender, product=None, user=None, request=None, **kwargs):
    if product is None or request is None:
        return
    try:
        quantity = int(request.POST.get("quantity", 1))
    except (TypeError, ValueError, AttributeError):
        quantity = 1
    _track(
        "add_to_cart",
        request,
        item_key=_item_key(product),
        quantity=max(quantity, 1),
        context={"variant": str(product.pk)} if getattr(product, "parent_id", None) else None,
    )


def track_product_view(sender, product=None, user=None, request=None, response=None, **kwargs):
    if product is None or request is None:
        return
    if response is not None and getattr(response, "status_code", 200) != 200:
        return
    _track("view", request, item_key=_item_key(product))


def track_search(sender, session=None, user=None, query="", **kwargs):
    query = (query or "").strip()
    if not query:
        return
    from ecom_ai.events.middleware import current_request

    request = current_request()
    if request is None:
        return
    _track("search", request, context={"query": query[:200]})


order_placed.connect(record_oscar_order, dispatch_uid="ecom_ai.contrib.oscar.order_placed")
basket_addition.connect(track_basket_addition, dispatch_uid="ecom_ai.contrib.oscar.basket_addition")
product_viewed.connect(track_product_view, dispatch_uid="ecom_ai.contrib.oscar.product_viewed")
user_search.connect(track_search, dispatch_uid="ecom_ai.contrib.oscar.user_search")
