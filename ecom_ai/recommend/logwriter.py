"""When served lists are stored: ``RECOMMEND_LOG_MODE`` and this process's buffer of served lists.

What a stored list is, and the one way it is written, is ``ecom_ai.recommend.served_lists``.
This module only decides *when* that runs (:func:`log_served`, called once per served list):

``"buffered"`` (default)
    the request only validates the impression and appends both unsaved rows to this
    process's buffer; a daemon thread writes the buffer every
    ``RECOMMEND_LOG_FLUSH_SECONDS`` (1 s), or as soon as ``RECOMMEND_LOG_BATCH_SIZE``
    lists wait, in one transaction per batch. The buffer is also written at interpreter
    exit (``atexit``: management commands, gunicorn/uWSGI workers stopping normally) and
    after each Celery task (``ecom_ai.tasks``).
``"sync"``
    the same write, of one list, inside the request (one transaction, two inserts).
``"queue"``
    one ``RPUSH`` to a Redis queue in the request; ``manage.py ecom_ai_log_worker`` (or the
    Celery task ``drain_served_lists``) writes the batches in another process
    (``ecom_ai.recommend.log_queue``). When the queue cannot take the list, this
    process's buffer does, as in ``"buffered"`` mode.

A failed batch is logged (``ecom_ai.recommend``) and never raised into a request; the
buffer tries it once more on the next flush, then drops it with an error naming how many
lists were lost. At most ``MAX_PENDING`` lists wait; beyond that new lists are dropped
(logged) rather than growing memory while the database is unreachable. A hard kill
(SIGKILL, OOM) loses at most the lists of the last flush interval.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque

from django.db import close_old_connections, connections

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.recommend import log_queue

# the storing itself (re-exported: the names this module had before served_lists.py)
from ecom_ai.recommend.served_lists import SOURCE, PendingList, build, store, store_all, write  # noqa: F401

logger = logging.getLogger("ecom_ai.recommend")

#: lists kept waiting at most (the oldest batch is retried once, new lists are dropped beyond this)
MAX_PENDING = 20_000


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
                    logger.error(
                        "ecom_ai: served list dropped: the log buffer is full (%d waiting; is the "
                        "database reachable?); %d dropped in this process so far",
                        len(self._buffer),
                        self.dropped,
                    )
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
                batch = waiting[start : start + size]
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
            if not self._buffer:
                continue
            try:
                close_old_connections()  # this thread's connection: replace a broken or expired one
                self.flush()
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
