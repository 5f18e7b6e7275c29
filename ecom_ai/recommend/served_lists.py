"""Storing served lists: the one module that writes ``RecommendationList`` rows and their impressions.

Each served list is one ``RecommendationList`` row and (with ``RECOMMEND_LOG_IMPRESSIONS``
and a known shopper) one ``impression`` event. Every way a list reaches the database goes
through :func:`store` / :func:`store_all`; ``RECOMMEND_LOG_MODE`` only decides *when* and
*in which process* that runs:

- ``"sync"``: in the request (``ecom_ai.recommend.logwriter.log_served``);
- ``"buffered"``: by this process's log thread (``ecom_ai.recommend.logwriter.LogWriter``);
- ``"queue"``: by ``manage.py ecom_ai_log_worker`` / the task ``drain_served_lists``, from
  the Redis queue the request pushed to (``ecom_ai.recommend.log_queue``).

Impressions keep what ``track()`` guarantees: validated by ``validate_event`` when the list
is served (a refused impression is logged and left out, the list is kept), ``occurred_at``
= when the list was served, and stored and announced (``events_recorded``) by the events
domain's :func:`ecom_ai.events.tracking.write_and_announce`, in the same transaction as the
lists (``user_key`` filled from known visitor identities, one query per batch).

A batch is all or nothing: a failing write (database down, constraint...) is rolled back
whole and raised to the caller (the buffer retries it once, the queue keeps it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import DataError, IntegrityError
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger("ecom_ai.recommend")

SOURCE = "recommend"  # the impressions' event source


@dataclass
class PendingList:
    """One served list ready to store: the unsaved row and its (validated) impression event."""

    row: object  # RecommendationList, unsaved
    impression: object | None  # Event, unsaved
    attempts: int = 0


def build(result, served_at=None) -> PendingList:
    """The unsaved rows of a served list (the impression validated as ``track()`` would).

    ``result``: a ``RecommendationResult``, or any object with its attributes (the queue
    worker's decoded lists); ``served_at``: when it was served (default: now).
    """
    from ecom_ai.events.validation import ValidationContext, validate_event
    from ecom_ai.models import Event, RecommendationList

    who = result.identity
    now = served_at or timezone.now()
    row = RecommendationList(
        id=result.id,
        placement_id=result.placement.pk,
        variant_id=getattr(result.variant, "pk", None),
        visitor_key=who.visitor_key[:64],
        user_key=who.user_key[:64],
        anchor_item=result.anchor_item[:191],
        strategy=result.strategy[:32],
        model_version_id=result.model_version_id,
        items=[{"key": i.key, "score": i.score, "reason": i.reason} for i in result.items],
        created_at=now,
    )
    impression = None
    if ecom_settings.RECOMMEND_LOG_IMPRESSIONS and who:
        context = {"rec_id": str(result.id), "placement": result.placement.slug, "items": len(result.items)}
        if result.variant is not None:
            context["variant"] = result.variant.name[:64]
        raw = {
            "event_type": "impression",
            "channel": who.channel,
            "visitor_key": who.visitor_key,
            "user_key": who.user_key,
            "item_key": "",
            "quantity": None,
            "value": None,
            "context": context,
            "client_time": None,
            "client_event_id": None,
        }
        clean, errors = validate_event(raw, ValidationContext.build(channel_default="web", now=now))
        if errors:  # e.g. a channel not in CHANNELS: keep the list, leave the event out (as before)
            logger.error("ecom_ai: the impression of list %s is refused: %s", result.id, errors)
        else:
            impression = Event(**clean, occurred_at=now, received_at=now, source=SOURCE)
    return PendingList(row, impression)


def store(batch: list[PendingList]) -> None:
    """Store a batch in one transaction and announce its impressions; raises what the
    database raised (the batch rolled back whole, ready to be tried again)."""
    from ecom_ai.events.tracking import write_and_announce

    if not batch:
        return
    events = [p.impression for p in batch if p.impression is not None]
    try:
        write_and_announce(events, SOURCE, with_rows=[[p.row for p in batch]])
    except Exception:
        for pending in batch:  # a retry inserts afresh
            pending.row._state.adding = True
            if pending.impression is not None:
                pending.impression.pk = None
        raise


def _already_stored(ids) -> set:
    from ecom_ai.models import RecommendationList

    return set(RecommendationList.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))


def store_all(batch: list[PendingList]) -> int:
    """Store a batch, leaving out lists already stored (or twice in it); returns how many
    were stored. When the database refuses the batch (a constraint), the lists are stored
    one at a time and those it refuses on their own are dropped, each logged. Raises when
    the database itself fails (nothing dropped: the batch can be tried again whole)."""
    if not batch:
        return 0
    known = _already_stored(p.row.pk for p in batch)
    fresh = []
    for pending in batch:  # e.g. queued and also buffered after a lost Redis reply
        if pending.row.pk not in known:
            known.add(pending.row.pk)
            fresh.append(pending)
    try:
        store(fresh)
        return len(fresh)
    except (IntegrityError, DataError):
        pass
    stored = 0
    for pending in fresh:
        try:
            store([pending])
        except (IntegrityError, DataError) as exc:
            logger.error("ecom_ai: served list %s dropped: the database refused it (%s)", pending.row.pk, exc)
            continue
        stored += 1
    return stored


def write(batch: list[PendingList]) -> bool:
    """Store a batch (``store_all``); True when the database took it. Never raises; logs a failure."""
    try:
        store_all(batch)
    except Exception:  # noqa: BLE001 - the whole batch is rolled back; serving goes on
        logger.exception("ecom_ai: could not store %d served recommendation list(s)", len(batch))
        return False
    return True
