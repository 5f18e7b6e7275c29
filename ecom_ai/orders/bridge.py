"""The order bridge: one call for a placed host order.

``record_order(order, request=None)`` (also ``ecom_ai.record_order``, and what the
``ecom_ai.signals.order_placed`` receiver calls) does, for every host:

1. **purchase events**, one per order line, written when the order's transaction commits
   (nothing is recorded for an order that is rolled back). Each event's ``client_event_id``
   is derived from the order and the line (source ``"order"``), so sending the same order
   again never counts a purchase twice. The event carries the line's item key, quantity and
   value (unit price x quantity), the order's number and key in its context, the coupon
   codes if the adapter gives any, the order's user and the shopper's visitor key (from the
   request, or the request being handled: ``VisitorMiddleware``'s ``current_request()``);
2. **a fraud assessment** (``ecom_ai.fraud.scoring.assess_order``: queued on commit, or
   scored now with ``FRAUD_ASYNC = False``);
3. then sends ``ecom_ai.signals.order_recorded`` (the extension point for other areas and
   for the host: crediting an offer from a coupon code, a CRM export...) with ``order``,
   ``record`` (the adapter's ``OrderRecord``, ``record.coupon_codes`` included), ``events``
   (the purchase events written *this time*: empty when the order was recorded before, so a
   listener that must count once can check it) and ``request``.

Orders are facts, not traffic: purchases are recorded for staff customers too
(``TRACK_STAFF`` is about browsing). Nothing here ever raises into the checkout: errors are
logged to ``ecom_ai.orders``.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ecom_ai import signals
from ecom_ai.adapters import OrderRecord, get_adapter
from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger("ecom_ai.orders")

#: ``source`` of the purchase events the bridge writes (idempotency: ``(source, client_event_id)``).
SOURCE = "order"
_ID_LENGTH = 64


def purchase_event_id(order_key: str, line_key: str) -> str:
    """The ``client_event_id`` of one order line's purchase (stable: same order, same id)."""
    plain = f"order:{order_key}:{line_key}"
    if len(plain) <= _ID_LENGTH:
        return plain
    return "order:" + hashlib.sha256(plain.encode()).hexdigest()[: _ID_LENGTH - 6]


def _client_time(record: OrderRecord) -> str | None:
    """The order's time, when the event log accepts it (else the events are stamped now)."""
    placed = record.created_at
    if placed is None or timezone.is_naive(placed):
        return None
    if placed > timezone.now() + timedelta(seconds=ecom_settings.MAX_CLOCK_SKEW_SECONDS):
        return None
    return placed.isoformat()


def _too_old(record: OrderRecord) -> bool:
    """An order older than the event log keeps (``MAX_EVENT_AGE_DAYS``) records no purchase:
    stamping it "now" would make an old sale look like today's."""
    placed = record.created_at
    return bool(
        placed is not None
        and timezone.is_aware(placed)
        and placed < timezone.now() - timedelta(days=ecom_settings.MAX_EVENT_AGE_DAYS)
    )


def purchase_events(record: OrderRecord, *, visitor_key: str = "") -> list[dict]:
    """The raw purchase events of one order (one per line with an item key; none for an order
    older than ``MAX_EVENT_AGE_DAYS``)."""
    if _too_old(record):
        logger.info("ecom_ai: order %r is older than MAX_EVENT_AGE_DAYS: no purchase events", record.number)
        return []
    channel = str((record.extra or {}).get("channel") or "web")
    if channel not in ecom_settings.all_channels:
        channel = "web"
    if not (visitor_key or record.user_key):  # a guest order with no browser: one pseudo-visitor per order
        visitor_key = purchase_event_id(record.key, "guest")[:_ID_LENGTH]
    context: dict[str, object] = {"order": record.number, "order_key": record.key}
    if record.coupon_codes:
        context["coupons"] = list(record.coupon_codes)
    placed = _client_time(record)
    events = []
    for index, line in enumerate(record.lines):
        if not line.item_key:
            continue
        value = line.price * line.quantity if line.price is not None else None
        events.append(
            {
                "event_type": "purchase",
                "channel": channel,
                "visitor_key": visitor_key[:_ID_LENGTH],
                "user_key": record.user_key,
                "item_key": line.item_key,
                "quantity": line.quantity,
                "value": str(value) if value is not None else None,
                "context": context,
                "client_time": placed,
                "client_event_id": purchase_event_id(record.key, line.key or f"#{index}"),
            }
        )
    return events


def record_purchases(record: OrderRecord, *, visitor_key: str = "") -> list:
    """Write the purchase events of ``record`` now; returns the events written (duplicates of
    an order recorded before are left out). Raises nothing: bad lines are logged and skipped."""
    from ecom_ai.events.tracking import BatchRejected, record_batch

    raw = purchase_events(record, visitor_key=visitor_key)
    written = []
    size = ecom_settings.MAX_BATCH_SIZE
    for start in range(0, len(raw), size):
        chunk = raw[start : start + size]
        try:
            result = record_batch(chunk, source=SOURCE)
        except BatchRejected as exc:
            logger.error("ecom_ai: purchase events of order %r rejected: %s", record.number, exc)
            continue
        if result.errors:  # e.g. an item key longer than the event log allows: record the good lines
            good = [event for index, event in enumerate(chunk) if index not in result.errors]
            logger.warning(
                "ecom_ai: %d line(s) of order %r not recorded: %s", len(result.errors), record.number, result.errors
            )
            result = record_batch(good, source=SOURCE) if good else result
        written.extend(result.events)
    return written


def _visitor_key(request) -> str:
    if request is None:
        return ""
    from ecom_ai.events.middleware import get_visitor_key

    try:
        return get_visitor_key(request) or ""
    except Exception:  # a strange request object must never stop the bridge
        return ""


def record_order(order, *, request=None, assess: bool = True) -> None:
    """Record a placed host order: purchase events on commit, fraud assessment, then
    ``order_recorded`` (see the module docstring). Call it once the order and its lines are
    saved, inside or outside the checkout's transaction. Never raises."""
    try:
        if request is None:
            from ecom_ai.events.middleware import current_request

            request = current_request()
        visitor_key = _visitor_key(request)

        def write():
            try:
                record = get_adapter().order_record(order)  # read at commit: every line is saved
                events = record_purchases(record, visitor_key=visitor_key)
            except Exception:
                logger.exception("ecom_ai: could not record the purchases of an order")
                return
            signals.order_recorded.send_robust(
                sender=type(order), order=order, record=record, events=events, request=request
            )

        transaction.on_commit(write, robust=True)
    except Exception:
        logger.exception("ecom_ai: could not record a placed order")
    if assess:
        from ecom_ai.fraud.scoring import assess_order

        assess_order(order, request=request)  # never raises; queued on commit by default
