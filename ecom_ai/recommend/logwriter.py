"""Storing served lists and their impression events, off the request path.

Each served list is one ``RecommendationList`` row and (with ``RECOMMEND_LOG_IMPRESSIONS``
and a known shopper) one ``impression`` event. ``RECOMMEND_LOG_MODE`` decides when they
are written:

``"buffered"`` (default)
    the request only validates the impression and appends both unsaved rows to this
    process's buffer; a daemon thread writes the buffer every
    ``RECOMMEND_LOG_FLUSH_SECONDS`` (1 s), or as soon as ``RECOMMEND_LOG_BATCH_SIZE``
    lists wait, with one ``bulk_create`` for the lists and one for the events, in one
    transaction per batch. The buffer is also written at interpreter exit (``atexit``:
    management commands, gunicorn/uWSGI workers stopping normally), after each Celery
    task (``ecom_ai.tasks``), and before attribution looks for a list in this process.
``"sync"``
    the same write, of one list, inside the request (one transaction, two inserts).
``"queue"``
    one ``RPUSH`` to a Redis queue in the request; ``manage.py ecom_ai_log_worker`` (or the
    Celery task ``drain_served_lists``) writes the batches with :func:`store`, in another
    process (``ecom_ai.recommend.log_queue``). When the queue cannot take the list, this
    process's buffer does, as in ``"buffered"`` mode.

A batch is all or nothing: a failing write (database down, constraint...) is rolled back
whole, logged (``ecom_ai.recommend``) and never raised into a request; the batch is tried
once more on the next flush, then dropped with an error naming how many lists were lost.
At most ``MAX_PENDING`` lists wait; beyond that new lists are dropped (logged) rather than
growing memory while the database is unreachable. A hard kill (SIGKILL, OOM) loses at most
the lists of the last flush interval.

Impressions keep what ``track()`` guarantees: validated by ``validate_event`` when the list
is served (a refused impression is logged and left out, the list is kept), ``occurred_at``
= when the list was served, ``user_key`` filled from known visitor identities (one query
per batch), written through ``write_events`` and announced with ``events_recorded``
after the commit.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger("ecom_ai.recommend")

#: lists kept waiting at most (the oldest batch is retried once, new lists are dropped beyond this)
MAX_PENDING = 20_000
#: deferred jobs (attribution retries) kept at most: a flood of made-up rec ids must not pile up
MAX_DEFERRED = 1_000
SOURCE = "recommend"


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
        id=result.id, placement_id=result.placement.pk, variant_id=getattr(result.variant, "pk", None),
        visitor_key=who.visitor_key[:64], user_key=who.user_key[:64],
        anchor_item=result.anchor_item[:191], strategy=result.strategy[:32],
        model_version_id=result.model_version_id,
        items=[{"key": i.key, "score": i.score, "reason": i.reason} for i in result.items],
        created_at=now,
    )
    impression = None
    if ecom_settings.RECOMMEND_LOG_IMPRESSIONS and who:
        context = {"rec_id": str(result.id), "placement": result.placement.slug, "items": len(result.items)}
        if result.variant is not None:
            context["variant"] = result.variant.name[:64]
        raw = {"event_type": "impression", "channel": who.channel, "visitor_key": who.visitor_key,
               "user_key": who.user_key, "item_key": "", "quantity": None, "value": None, "context": context,
               "client_time": None, "client_event_id": None}
        clean, errors = validate_event(raw, ValidationContext.build(channel_default="web", now=now))
        if errors:  # e.g. a channel not in CHANNELS: keep the list, leave the event out (as before)
            logger.error("ecom_ai: the impression of list %s is refused: %s", result.id, errors)
        else:
            impression = Event(**clean, occurred_at=now, received_at=now, source=SOURCE)
    return PendingList(row, impression)


def store(batch: list[PendingList]) -> None:
    """Store a batch in one transaction and announce its impressions; raises what the
    database raised (the batch rolled back whole, ready to be tried again)."""
    from ecom_ai.events.copy_insert import copy_insert
    from ecom_ai.events.tracking import _send_recorded, fill_user_keys, write_events
    from ecom_ai.models import RecommendationList

    if not batch:
        return
    events = [p.impression for p in batch if p.impression is not None]
    try:
        with transaction.atomic():
            copy_insert(RecommendationList, [p.row for p in batch])
            written = []
            if events:
                fill_user_keys(events)
                written, _ = write_events(events, SOURCE)
    except Exception:
        for pending in batch:  # a retry inserts afresh
            pending.row._state.adding = True
            if pending.impression is not None:
                pending.impression.pk = None
        raise
    try:
        _send_recorded(written)
    except Exception:  # noqa: BLE001 - a receiver must not make a stored batch look failed
        logger.exception("ecom_ai: an events_recorded receiver failed for %d impression(s)", len(written))


def _already_stored(ids) -> set:
    from ecom_ai.models import RecommendationList

    return set(RecommendationList.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))


def store_all(batch: list[PendingList]) -> int:
    """Store a batch, leaving out lists already stored (or twice in it); returns how many
    were stored. When the database refuses the batch (a constraint), the lists are stored
    one at a time and those it refuses on their own are dropped, each logged. Raises when
    the database itself fails (nothing dropped: the batch can be tried again whole)."""
    from django.db import DataError, IntegrityError

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


class LogWriter:
    """This process's buffer of served lists and the daemon thread that writes it."""

    def __init__(self, autostart: bool = True):
        self.autostart = autostart
        self._reset()

    def _reset(self):  # also in a forked child: the parent's thread and locks are not ours
        self._pid = os.getpid()
        self._buffer: deque[PendingList] = deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._deferred: list[tuple[float, object]] = []  # (due on time.monotonic(), callable)
        self.dropped = 0
        self._full_logged_at = float("-inf")
        self.written = 0
        self.failed_batches = 0

    # -- the request side -----------------------------------------------------------------
    def submit(self, pending: PendingList) -> None:
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            if len(self._buffer) >= MAX_PENDING:
                self.dropped += 1
                now = time.monotonic()
                if now - self._full_logged_at >= 10.0:  # at most one error per 10 s
                    self._full_logged_at = now
                    logger.error("ecom_ai: served list dropped: the log buffer is full (%d waiting; is the "
                                 "database reachable?); %d dropped in this process so far",
                                 len(self._buffer), self.dropped)
                return
            self._buffer.append(pending)
            full = len(self._buffer) >= ecom_settings.RECOMMEND_LOG_BATCH_SIZE
        if self.autostart:
            self._ensure_thread()
        if full:
            self._wake.set()

    def pending(self) -> int:
        return len(self._buffer) if self._pid == os.getpid() else 0

    # -- writing --------------------------------------------------------------------------
    def flush(self) -> int:
        """Write everything waiting now, in batches; returns how many lists were stored.

        Failed batches go back to the front of the buffer for one more try; a batch that
        failed twice is dropped (logged). Never raises.
        """
        if self._pid != os.getpid():
            self._reset()
            return 0
        stored = 0
        size = max(1, int(ecom_settings.RECOMMEND_LOG_BATCH_SIZE))
        with self._flush_lock:
            with self._lock:
                waiting = list(self._buffer)
                self._buffer.clear()
            retry: list[PendingList] = []
            for start in range(0, len(waiting), size):
                batch = waiting[start:start + size]
                if write(batch):
                    stored += len(batch)
                    continue
                self.failed_batches += 1
                for pending in batch:
                    pending.attempts += 1
                lost = [p for p in batch if p.attempts >= 2]
                if lost:
                    self.dropped += len(lost)
                    logger.error("ecom_ai: %d served list(s) dropped after two failed writes", len(lost))
                retry += [p for p in batch if p.attempts < 2]
            if retry:
                with self._lock:
                    self._buffer.extendleft(reversed(retry))
        self.written += stored
        return stored

    def defer(self, job, delay: float) -> bool:
        """Run ``job()`` on this writer's thread in ``delay`` seconds (after that flush). False
        when too many wait. A job that raises is logged."""
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            if len(self._deferred) >= MAX_DEFERRED:
                return False
            self._deferred.append((time.monotonic() + delay, job))
        if self.autostart:
            self._ensure_thread()
        return True

    def run_deferred(self, *, due_by: float | None = None) -> int:
        """Run the deferred jobs due by ``due_by`` (default: now); returns how many ran."""
        due_by = time.monotonic() if due_by is None else due_by
        with self._lock:
            due = [job for when, job in self._deferred if when <= due_by]
            self._deferred = [(when, job) for when, job in self._deferred if when > due_by]
        for job in due:
            try:
                job()
            except Exception:  # noqa: BLE001
                logger.exception("ecom_ai: a deferred recommendation job failed")
        return len(due)

    # -- the daemon thread ----------------------------------------------------------------
    def _ensure_thread(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="ecom_ai-recommend-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(float(ecom_settings.RECOMMEND_LOG_FLUSH_SECONDS))
            self._wake.clear()
            if not self._buffer and not self._deferred:
                continue
            try:
                close_old_connections()  # this thread's connection: replace a broken or expired one
                if self._buffer:
                    self.flush()
                if self._deferred:
                    self.run_deferred()
            except Exception:  # noqa: BLE001 - the thread must survive anything
                logger.exception("ecom_ai: the recommendation log thread failed")
                time.sleep(1.0)
        connections.close_all()  # this thread's connections (stopped: tests)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (tests); what is waiting stays for :meth:`flush`."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self._stopping = False


writer = LogWriter()


def log_served(result) -> None:
    """Store ``result`` (a served list) as ``RECOMMEND_LOG_MODE`` says. Never raises."""
    if ecom_settings.RECOMMEND_LOG_MODE == "queue":
        from ecom_ai.recommend import log_queue

        if log_queue.push(result):
            return  # else (Redis unreachable, queue full): this process's buffer, as "buffered"
    try:
        pending = build(result)
    except Exception:  # noqa: BLE001
        logger.exception("ecom_ai: could not prepare recommendation list %s for storage", result.id)
        return
    if ecom_settings.RECOMMEND_LOG_MODE == "sync":
        write([pending])
    else:
        writer.submit(pending)


def flush() -> int:
    """Write this process's waiting lists and impressions now; returns how many lists were stored."""
    return writer.flush()


def pending() -> int:
    """How many served lists wait in this process's buffer."""
    return writer.pending()


def _flush_at_exit() -> None:
    if writer.pending():
        try:
            writer.flush()
        except Exception:  # noqa: BLE001
            logger.exception("ecom_ai: could not store the waiting recommendation lists at exit")


atexit.register(_flush_at_exit)
