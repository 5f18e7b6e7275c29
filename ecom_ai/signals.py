"""Signals ecom_ai sends, for the host shop to listen to.

| signal | sent when | keyword arguments |
|---|---|---|
| ``events_recorded`` | a batch of events was stored | ``events`` (list of Event) |
| ``visitor_identified`` | a visitor key was stitched to a user | ``visitor_key``, ``user_key``, ``channel`` |
| ``order_placed`` | sent BY THE HOST after an order and its lines are saved | ``order``, ``request`` (or None) |
| ``order_recorded`` | the order bridge wrote an order's purchase events (after commit) | ``order``, ``record`` (``OrderRecord``, with ``coupon_codes``), ``events`` (written this time; empty on a re-send), ``request`` |
| ``item_synced`` | catalog mirror rows were written | ``keys`` (list of str) |
| ``recommendations_served`` | a recommendation list was served | ``recommendation`` |
| ``model_activated`` | a model version became active | ``version``, ``previous`` |
| ``fraud_flagged`` | an order was assessed as medium or high risk | ``assessment`` |
| ``chat_handed_off`` | a chat conversation went to a human | ``conversation`` |
| ``offers_decided`` | a batch of offer decisions was written (after commit) | ``campaign``, ``decisions`` (queryset of the decisions that carry an offer, with their ``coupon_code``) |
"""

from django.dispatch import Signal

events_recorded = Signal()
order_placed = Signal()
order_recorded = Signal()
visitor_identified = Signal()
item_synced = Signal()
recommendations_served = Signal()
model_activated = Signal()
fraud_flagged = Signal()
chat_handed_off = Signal()
offers_decided = Signal()
