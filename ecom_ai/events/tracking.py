"""Recording events: ``track()`` for one event from Python, ``record_batch()`` for many.

Both validate with :mod:`ecom_ai.events.validation`, skip staff traffic (unless
``TRACK_STAFF``) and hand the rows to :func:`write_and_announce`, the one way events are
stored: ``user_key`` filled from known visitor identities, one ``bulk_create`` (``COPY`` on
PostgreSQL, ``ecom_ai.events.copy_insert``) in one transaction, then
``ecom_ai.signals.events_recorded``. Other domains that produce events (the served lists'
impressions) use it too, with their own rows in the same transaction. ``record_batch()`` is
the path the HTTP endpoint uses; it is all-or-nothing and idempotent on
``(source, client_event_id)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, models, transaction

from ecom_ai import signals
from ecom_ai.adapters import get_adapter
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.copy_insert import copy_insert
from ecom_ai.events.middleware import get_visitor_key
from ecom_ai.events.validation import EventValidationError, ValidationContext, validate_event
from ecom_ai.models import Event, VisitorIdentity

logger = logging.getLogger("ecom_ai.events")

#: How often a write is retried when a concurrent request stored the same client event ids.
CONFLICT_RETRIES = 3


class BatchRejected(ValueError):
    """The batch as a whole is unusable (not a list, too large, no visitor...)."""

    def __init__(self, message: str, *, too_large: bool = False):
        self.message = message
        self.too_large = too_large
        super().__init__(message)


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0  # staff traffic not tracked
    errors: dict = field(default_factory=dict)  # event index -> {field: message}
    events: list = field(default_factory=list)  # the Event rows written

    @property
    def ok(self) -> bool:
        return not self.errors


def is_excluded_user(user) -> bool:
    """Staff traffic is not tracked unless ``TRACK_STAFF`` is on."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_staff", False)
        and not ecom_settings.TRACK_STAFF
    )


def _request_user(request):
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def fill_user_keys(events: list[Event]) -> None:
    """Set ``user_key`` from the latest known VisitorIdentity where the sender gave none.

    One query for the whole batch.
    """
    visitors = {e.visitor_key for e in events if e.visitor_key and not e.user_key}
    if not visitors:
        return
    links = (
        VisitorIdentity.objects.filter(visitor_key__in=visitors)
        .order_by("visitor_key", "last_seen", "pk")
        .values_list("visitor_key", "user_key")
    )
    latest = dict(links)  # ordered by last_seen, so the latest link wins
    for event in events:
        if not event.user_key and event.visitor_key in latest:
            event.user_key = latest[event.visitor_key]


def _existing_ids(source: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    chunk = 500  # stays under SQLite's variable limit
    for start in range(0, len(ids), chunk):
        found.update(
            Event.objects.filter(source=source, client_event_id__in=ids[start : start + chunk]).values_list(
                "client_event_id", flat=True
            )
        )
    return found


def write_events(
    events: list[Event], source: str, *, with_rows: Sequence[Sequence[models.Model]] = ()
) -> tuple[list[Event], int]:
    """Store ``events`` (all with ``source``) in one transaction; return (written, duplicates).

    Events whose ``client_event_id`` is already stored for ``source``, or repeated inside
    the batch, are duplicates and are left out. A concurrent writer of the same ids is
    handled by retrying after an IntegrityError. ``with_rows``: lists of unsaved rows of
    other models inserted first, in the same transaction (see :func:`write_and_announce`).
    """
    unique: list[Event] = []
    seen: set[str] = set()
    duplicates = 0
    for event in events:
        cid = event.client_event_id
        if cid is not None:
            if cid in seen:
                duplicates += 1
                continue
            seen.add(cid)
        unique.append(event)

    for attempt in range(CONFLICT_RETRIES + 1):
        candidates = unique
        skipped = 0
        if seen:
            existing = _existing_ids(source, list(seen))
            if existing:
                candidates = [e for e in unique if e.client_event_id not in existing]
                skipped = len(unique) - len(candidates)
        try:
            with transaction.atomic():
                for rows in with_rows:
                    if rows:
                        copy_insert(type(rows[0]), list(rows))
                written = copy_insert(Event, candidates) if candidates else []
        except IntegrityError:
            for rows in with_rows:  # a retry (or the caller's) inserts them afresh
                for row in rows:
                    row._state.adding = True
            if attempt == CONFLICT_RETRIES or not seen:
                raise
            logger.info("event batch from %r met a concurrent duplicate; retrying", source)
            for event in unique:
                event.pk = None
            continue
        return written, duplicates + skipped
    raise AssertionError("unreachable")  # pragma: no cover


def announce_recorded(events: list[Event]) -> None:
    """Send ``events_recorded`` for stored events. A failing receiver is logged, never raised:
    the events are stored, and a client retrying would only meet its duplicates."""
    if not events:
        return
    for receiver, response in signals.events_recorded.send_robust(sender=Event, events=events):
        if isinstance(response, Exception):
            logger.error(
                "ecom_ai: the events_recorded receiver %r failed for %d event(s)",
                receiver,
                len(events),
                exc_info=response,
            )


def write_and_announce(
    events: list[Event], source: str, *, with_rows: Sequence[Sequence[models.Model]] = ()
) -> tuple[list[Event], int]:
    """Store validated, unsaved events and announce them; returns ``(written, duplicates)``.

    The one way ecom_ai stores events (``track()``, ``record_batch()``, the served lists'
    impressions):

    1. ``user_key`` is filled from the latest known visitor identity where the sender gave
       none (one query);
    2. the events are inserted in one transaction (``COPY`` on PostgreSQL), leaving out
       those whose ``client_event_id`` is already stored for ``source`` (idempotent
       retries); ``with_rows``, lists of unsaved rows of other models that belong with the
       events (the ``RecommendationList`` rows their impressions point to), are inserted
       first in the same transaction: all or nothing;
    3. ``events_recorded`` is sent with the written events once that transaction block is
       done (receivers that need the outermost commit, such as attribution, defer their
       work with ``on_commit``); a failing receiver is logged, not raised.

    Raises the database's errors (nothing stored; the rows can be written again).
    """
    fill_user_keys(events)
    written, duplicates = write_events(events, source, with_rows=with_rows)
    announce_recorded(written)
    return written, duplicates


def record_batch(raw_events, *, source: str, channel_default: str = "web", request=None, api_key=None) -> BatchResult:
    """Validate and store a batch of raw events (dicts decoded from JSON).

    - ``source``: how the events arrive (``"browser"``, or the channel key's name); the
      idempotency key is ``(source, client_event_id)``.
    - ``request``: a browser request; the visitor key comes from its visitor cookie and the
      user from its session. Browsers may not send ``user_key`` or ``visitor_key``.
    - ``api_key``: the ``ChannelKey`` of a server-to-server sender; it may only send its own
      channel and may give ``visitor_key``/``user_key``.

    Every event is validated first. If any is bad, nothing is written and
    ``result.errors`` maps each bad event's index to ``{field: message}``. Raises
    :class:`BatchRejected` when the batch itself is unusable.
    """
    if not isinstance(raw_events, list):
        raise BatchRejected("'events' must be a list of event objects")
    max_size = ecom_settings.MAX_BATCH_SIZE
    if len(raw_events) > max_size:
        raise BatchRejected(f"a batch may hold at most {max_size} events, got {len(raw_events)}", too_large=True)

    forbidden = {}
    visitor_key = user_key = ""
    user = None
    if api_key is not None:
        allowed_channels = [api_key.channel]
        channel_default = api_key.channel
    else:
        allowed_channels = None
        if request is not None:
            message = "is taken from the browser session and cannot be sent"
            forbidden = {"user_key": message, "visitor_key": message}
            visitor_key = get_visitor_key(request)
            user = _request_user(request)
            user_key = get_adapter().user_key(user) if user is not None else ""

    ctx = ValidationContext.build(
        channel_default=channel_default, allowed_channels=allowed_channels, forbidden_fields=forbidden
    )
    result = BatchResult()
    rows: list[dict] = []
    for index, raw in enumerate(raw_events):
        clean, errors = validate_event(raw, ctx)
        if errors:
            result.errors[index] = errors
        else:
            rows.append(clean)
    if result.errors:
        return result

    if request is not None and api_key is None:
        if not (visitor_key or user_key) and rows:
            raise BatchRejected(
                "no visitor: the request has no ecom_ai visitor cookie and no logged-in user "
                "(is ecom_ai.events.middleware.VisitorMiddleware installed?)"
            )
        for clean in rows:
            clean["visitor_key"] = visitor_key
            clean["user_key"] = user_key
    else:
        for index, clean in enumerate(rows):
            if not (clean["visitor_key"] or clean["user_key"]):
                result.errors[index] = {"visitor_key": "give visitor_key or user_key (or both)"}
        if result.errors:
            return result

    if is_excluded_user(user):
        result.skipped = len(rows)
        return result

    now = ctx.now
    events = [Event(**clean, occurred_at=clean["client_time"] or now, received_at=now, source=source) for clean in rows]
    written, duplicates = write_and_announce(events, source)
    result.events = written
    result.accepted = len(written)
    result.duplicates = duplicates
    return result


def track(
    event_type: str,
    *,
    channel: str = "web",
    request=None,
    visitor_key: str = "",
    user=None,
    user_key: str = "",
    item_key: str = "",
    quantity=None,
    value=None,
    context=None,
    client_time=None,
    client_event_id=None,
    source: str = "python",
) -> Event | None:
    """Record one event from Python code and return it.

    With ``request``, the visitor key comes from the visitor cookie
    (``request.ecom_ai_visitor``) and the user from ``request.user``; explicit
    ``visitor_key``/``user``/``user_key`` arguments win. Returns None when the event was
    skipped: staff traffic (unless ``TRACK_STAFF``) or a ``client_event_id`` already stored
    for ``source``. Raises :class:`~ecom_ai.events.validation.EventValidationError` for bad
    input.
    """
    if request is not None:
        visitor_key = visitor_key or get_visitor_key(request)
        if user is None:
            user = _request_user(request)
    if user is not None and not user_key:
        user_key = get_adapter().user_key(user)
    if is_excluded_user(user):
        return None

    raw = {
        "event_type": event_type,
        "channel": channel,
        "visitor_key": visitor_key,
        "user_key": user_key,
        "item_key": item_key,
        "quantity": quantity,
        "value": value,
        "context": context,
        "client_time": client_time,
        "client_event_id": client_event_id,
    }
    ctx = ValidationContext.build(channel_default="web")
    clean, errors = validate_event(raw, ctx)
    if errors:
        raise EventValidationError(errors)
    now = ctx.now
    event = Event(**clean, occurred_at=clean["client_time"] or now, received_at=now, source=source)
    written, _ = write_and_announce([event], source)
    return written[0] if written else None
