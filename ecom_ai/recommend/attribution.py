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

With the buffered log (``RECOMMEND_LOG_MODE = "buffered"``) a served list reaches the
database up to ``RECOMMEND_LOG_FLUSH_SECONDS`` after it was served. Before attributing,
this process writes its own waiting lists; an event whose ``rec_id`` names a list that is
not stored yet (served by another process a moment ago) is tried once more after two
flush intervals.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db.models import F, Q
from django.utils import timezone

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


def _window(event):
    window = timedelta(hours=float(ecom_settings.RECOMMEND_ATTRIBUTION_HOURS))
    return event.occurred_at - window, event.occurred_at + timedelta(seconds=5)


def _candidate_lists(events):
    """Every list that could be credited for ``events``: one query for the whole batch."""
    from ecom_ai.models import RecommendationList

    visitors = {e.visitor_key for e in events if e.visitor_key}
    users = {e.user_key for e in events if e.user_key}
    rec_ids = {r for r in map(_rec_id, events) if r is not None}
    if not (visitors or users or rec_ids):
        return []
    windows = [_window(e) for e in events]
    since, until = min(w[0] for w in windows), max(w[1] for w in windows)
    condition = Q()
    if visitors:
        condition |= Q(visitor_key__in=visitors)
    if users:
        condition |= Q(user_key__in=users)
    if rec_ids:
        condition |= Q(pk__in=rec_ids)
    return list(RecommendationList.objects.filter(condition, created_at__gte=since, created_at__lte=until)
                .order_by("-created_at").only("id", "visitor_key", "user_key", "items", "created_at"))


def find_list(event, candidates=None):
    """The ``RecommendationList`` to credit for ``event``, or None.

    ``candidates`` (newest first) are the lists fetched once for a whole batch by
    :func:`_candidate_lists`; without them, they are fetched for this event alone.
    """
    if not event.item_key or not (event.visitor_key or event.user_key):
        return None
    if candidates is None:
        candidates = _candidate_lists([event])
    since, until = _window(event)
    in_window = [lst for lst in candidates if since <= lst.created_at <= until and _same_shopper(lst, event)]
    rec_id = _rec_id(event)
    if rec_id is not None:
        for lst in in_window:
            if lst.pk == rec_id and event.item_key in lst.item_keys:
                return lst
    for lst in in_window[:MAX_LISTS_SCANNED]:
        if event.item_key in lst.item_keys:
            return lst
    return None


def _flush_served_lists() -> None:
    """Lists this process served but has not written yet (buffered log mode) are written
    first, so a click right after the list was served still finds it."""
    from ecom_ai.recommend import logwriter

    if logwriter.pending():
        logwriter.flush()


def attribute_events(events, *, unmatched: list | None = None) -> int:
    """Credit the lists behind these events; returns how many events were attributed.

    One query finds the candidate lists of the whole batch; one UPDATE per credited list.
    ``unmatched``: a list that receives the events that were credited to nobody although
    their ``rec_id`` is well-formed and names no stored list (yet).
    """
    from ecom_ai.models import RecommendationList

    events = [e for e in events if e.event_type in COUNTERS and e.item_key and (e.visitor_key or e.user_key)]
    if not events:
        return 0
    candidates = _candidate_lists(events)
    known = {lst.pk for lst in candidates}
    credits: dict = {}
    attributed = 0
    for event in events:
        lst = find_list(event, candidates) if candidates else None
        if lst is None:
            rec_id = _rec_id(event)
            if unmatched is not None and rec_id is not None and rec_id not in known:
                unmatched.append(event)
            continue
        counts = credits.setdefault(lst.pk, {"clicks": 0, "add_to_carts": 0, "purchases": 0, "revenue": Decimal(0)})
        counts[COUNTERS[event.event_type]] += 1
        if event.event_type == "purchase" and event.value is not None:
            counts["revenue"] += Decimal(event.value)
        attributed += 1
    for pk, counts in credits.items():
        updates = {name: F(name) + amount for name, amount in counts.items() if amount}
        RecommendationList.objects.filter(pk=pk).update(**updates)
    return attributed


def _retry_later(events) -> None:
    """Events naming a list that is not stored yet: with the buffered log, another process may
    still hold it (it is written within ``RECOMMEND_LOG_FLUSH_SECONDS``). Try once more after
    two flush intervals, on the log writer's thread; with the queue (its worker may run on a
    schedule or lag behind), up to four times over about 100 s. Those events were credited
    to nobody, so a retry can never credit twice. Lost if the process stops meanwhile."""
    if not events or ecom_settings.RECOMMEND_LOG_MODE not in ("buffered", "queue"):
        return
    from ecom_ai.recommend import logwriter

    recent = timezone.now() - timedelta(minutes=5)  # a list older than that was either written or lost
    events = [e for e in events if e.occurred_at >= recent]
    if not events:
        return
    first = 2 * float(ecom_settings.RECOMMEND_LOG_FLUSH_SECONDS) + 0.5
    # queue: the log worker may run on a schedule or lag behind, so a few more tries
    delays = iter([first] if ecom_settings.RECOMMEND_LOG_MODE == "buffered" else [first, 10.0, 30.0, 60.0])

    def attempt():
        unmatched: list = []
        attribute_events(events, unmatched=unmatched)
        delay = next(delays, None)
        if unmatched and delay is not None:
            events[:] = unmatched
            logwriter.writer.defer(attempt, delay)

    logwriter.writer.defer(attempt, next(delays))


def on_events_recorded(sender, events=(), **kwargs):
    events = [e for e in events if e.event_type in COUNTERS]
    if not events:
        return
    try:
        _flush_served_lists()
        unmatched: list = []
        attribute_events(events, unmatched=unmatched)
        _retry_later(unmatched)
    except Exception:  # noqa: BLE001 - attribution must never break event recording
        logger.exception("ecom_ai: recommendation attribution failed")
