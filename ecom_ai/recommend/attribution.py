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
so a retried batch is never credited twice.

When it runs: after the commit, never inside the transaction that records the events. The
``events_recorded`` receiver (:func:`on_events_recorded`) keeps the events that can credit
a list and, once the transaction that stored them commits, hands them to the dispatcher
that ``ecom_ai.apps`` sets: their ids go to the Celery task
``ecom_ai.tasks.attribute_events``, which reads them back (:func:`attribute_event_ids`);
with ``TASK_MODE = "inline"`` or no broker they are attributed in the same process right
after the commit (:func:`attribute_now`). Either way: one query for the candidate lists of
the batch and one ``UPDATE`` per credited list.

With the buffered log or the queue (``RECOMMEND_LOG_MODE``) a served list reaches the
database a moment after it was served. An event whose ``rec_id`` names a list that is not
stored yet is tried again by the task (:func:`retry_delays`: after two flush intervals;
with the queue, whose worker may run on a schedule or lag behind, up to four times over
about 100 s). Those events were credited to nobody, so a retry can never credit twice.
Without a broker the same retries run in this process on a timer thread (best effort: lost
if the process exits first).
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger("ecom_ai.recommend")

COUNTERS = {"click": "clicks", "add_to_cart": "add_to_carts", "purchase": "purchases"}
MAX_LISTS_SCANNED = 50


def _same_shopper(lst, event) -> bool:
    return bool(
        (lst.visitor_key and lst.visitor_key == event.visitor_key) or (lst.user_key and lst.user_key == event.user_key)
    )


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
    return list(
        RecommendationList.objects.filter(condition, created_at__gte=since, created_at__lte=until)
        .order_by("-created_at")
        .only("id", "visitor_key", "user_key", "items", "created_at")
    )


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


def attribute_event_ids(event_ids) -> list[int]:
    """Credit the lists behind the stored events ``event_ids``; returns the ids of the events
    worth trying again later: credited to nobody although their ``rec_id`` names no stored
    list (yet), and recent (a list older than 5 minutes was either written or lost)."""
    from ecom_ai.models import Event

    ids = [int(pk) for pk in event_ids]
    if not ids:
        return []
    events = list(
        Event.objects.filter(pk__in=ids, event_type__in=list(COUNTERS)).only(
            "id", "event_type", "visitor_key", "user_key", "item_key", "value", "context", "occurred_at"
        )
    )
    unmatched: list = []
    attribute_events(events, unmatched=unmatched)
    recent = timezone.now() - timedelta(minutes=5)
    return [e.pk for e in unmatched if e.occurred_at >= recent]


def retry_delays() -> tuple[float, ...]:
    """Seconds to wait before each new try of events whose list is not stored yet: none when
    lists are written in the request (``"sync"``), one try after two flush intervals with the
    buffered log, four over about 100 s with the queue (its worker may lag behind)."""
    mode = ecom_settings.RECOMMEND_LOG_MODE
    if mode not in ("buffered", "queue"):
        return ()
    first = 2 * float(ecom_settings.RECOMMEND_LOG_FLUSH_SECONDS) + 0.5
    return (first,) if mode == "buffered" else (first, 10.0, 30.0, 60.0)


def attribute_now(events) -> None:
    """Attribute stored events in this process: the dispatcher when none is set, and the task
    layer's without a broker. Events whose list is not stored yet (buffered log, queue) are
    tried again in this process on a timer thread (:func:`retry_delays`), best effort: a
    process that exits first loses them. Never raises."""
    unmatched: list = []
    try:
        attribute_events(events, unmatched=unmatched)
    except Exception:  # noqa: BLE001 - attribution must never break event recording
        logger.exception("ecom_ai: recommendation attribution failed")
        return
    recent = timezone.now() - timedelta(minutes=5)
    _retry_in_process([e.pk for e in unmatched if e.pk is not None and e.occurred_at >= recent], attempt=0)


#: at most this many in-process retries wait at once (a burst of clicks on lists nobody stored)
MAX_PENDING_RETRIES = 64
_retries_lock = threading.Lock()
_retries_pending = [0]


def _retry_in_process(event_ids: list[int], attempt: int) -> None:
    delays = retry_delays()
    if not event_ids or attempt >= len(delays):
        return
    with _retries_lock:
        if _retries_pending[0] >= MAX_PENDING_RETRIES:
            logger.warning(
                "ecom_ai: %d attribution retries already wait in this process; %d event(s) not retried",
                _retries_pending[0],
                len(event_ids),
            )
            return
        _retries_pending[0] += 1
    timer = threading.Timer(delays[attempt], _run_retry, args=(event_ids, attempt))
    timer.daemon = True
    timer.name = "ecom_ai-attribution-retry"
    timer.start()


def _run_retry(event_ids: list[int], attempt: int) -> None:
    from django.db import connection

    waiting: list[int] = []
    try:
        waiting = attribute_event_ids(event_ids)
    except Exception:  # noqa: BLE001 - a background retry must never take the process down
        logger.exception("ecom_ai: retrying recommendation attribution failed")
    finally:
        with _retries_lock:
            _retries_pending[0] -= 1
        connection.close()  # this thread's own connection
    _retry_in_process(waiting, attempt + 1)


_dispatcher: list = [attribute_now]


def set_dispatcher(dispatch) -> None:
    """``dispatch(events)`` runs the attribution of stored events (called after their commit;
    a worker gets their ids). ``ecom_ai.apps`` sets the task layer's (the domain never imports
    ``ecom_ai.tasks``)."""
    _dispatcher[0] = dispatch


def on_events_recorded(sender, events=(), **kwargs) -> None:
    """``events_recorded``: the events that can credit a list are attributed after the commit,
    off this request (see the module docstring)."""
    events = [
        e
        for e in events
        if e.event_type in COUNTERS and e.item_key and (e.visitor_key or e.user_key) and e.pk is not None
    ]
    if not events:
        return
    dispatch = _dispatcher[0]
    transaction.on_commit(lambda: dispatch(events), robust=True)
