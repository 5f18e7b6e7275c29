"""Recommender tasks: train, refresh, embed item texts (thin shells over ``ecom_ai.recommend``).

All three belong on ``ECOM_AI["TRAINING_QUEUE"]`` (a GPU worker can own it): the
``request_*`` helpers and the documented beat schedule (docs/recommendations-model.md)
send them there. Trainings take the registry's lock (one ``recommender`` training at a
time; a second gets ``status: "locked"``), report progress to their ``TrainingRun`` and are
retried with backoff on transient database errors.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.tasks import celery_enabled, dispatch
from ecom_ai.tasks.ml import TRAINING_RETRY, _not_queued, run_training

logger = logging.getLogger("ecom_ai.tasks")

KIND = "recommender"
_RETRY = TRAINING_RETRY


@shared_task(bind=True, name="ecom_ai.train_recommender", **_RETRY)
def train_recommender(self, params=None, user_id=None, run_id=None):
    """Train a new recommender version from scratch; returns a summary dict."""
    return _run(self, {**(params or {}), "mode": "full"}, user_id, run_id)


@shared_task(bind=True, name="ecom_ai.refresh_recommender", **_RETRY)
def refresh_recommender(self, params=None, user_id=None, run_id=None):
    """Warm-start from the active recommender and train a few epochs on the new events."""
    return _run(self, {**(params or {}), "mode": "refresh"}, user_id, run_id)


def _run(task, params, user_id, run_id):
    summary = run_training(task, KIND, params, user_id=user_id, run_id=run_id)
    if "version" in summary:
        summary["mode"] = params["mode"]
    return summary


_EMBED_LOCK = "ecom_ai:lock:embed_items"


@shared_task(bind=True, name="ecom_ai.embed_items", **_RETRY)
def embed_items(self, keys=None, force=False, batch_size=256):
    """Compute ``Item.embedding`` with the configured text encoder.

    Items whose embedding is missing or was made by another encoder (or all of ``keys``
    when ``force``). Idempotent; a second run while one is going returns ``"locked"``.
    """
    from ecom_ai.recommend.embeddings import embed_catalog

    if not cache.add(_EMBED_LOCK, self.request.id or "inline", timeout=ecom_settings.TRAINING_LOCK_TIMEOUT):
        return {"status": "locked", "message": "embed_items is already running"}
    try:
        count, name = embed_catalog(keys=keys, force=force, batch_size=batch_size)
    finally:
        cache.delete(_EMBED_LOCK)
    return {"status": "done", "embedded": count, "encoder": name}


def request_recommender_training(params=None, user=None, refresh=False):
    """Queue a recommender training (``refresh``: warm start); returns its ``TrainingRun``.

    Raises ``TrainingLocked`` when a recommender training is already queued or running.
    """
    from ecom_ai.ml.registry import queue_training_run

    mode = "refresh" if refresh else "full"
    run = queue_training_run(KIND, {**(params or {}), "mode": mode}, user=user)
    task = refresh_recommender if refresh else train_recommender
    dispatch(
        task,
        params=dict(params or {}),
        user_id=getattr(run.requested_by, "pk", None),
        run_id=run.pk,
        queue=ecom_settings.TRAINING_QUEUE,
        background=True,
        on_send_error=lambda exc: _not_queued(run, exc),
    )
    return run


# --- served lists buffered in a worker process (ecom_ai.recommend.logwriter) -----------------
# A task that serves lists (e.g. recommendation e-mails) leaves them in the process's buffer;
# they are written when the task ends, and when the worker process shuts down, so a worker
# never keeps them waiting for its next task or loses them on a normal stop.
from celery import signals as _celery_signals  # noqa: E402


def _flush_served_lists(sender=None, task=None, **kwargs):
    request = getattr(task or sender, "request", None)
    if getattr(request, "is_eager", False):  # an inline task inside a web request: the thread writes
        return
    from ecom_ai.recommend.logwriter import flush, pending

    if pending():
        flush()


_celery_signals.task_postrun.connect(_flush_served_lists, weak=False, dispatch_uid="ecom_ai.recommend.log.task")
_celery_signals.worker_process_shutdown.connect(
    _flush_served_lists, weak=False, dispatch_uid="ecom_ai.recommend.log.shutdown"
)


@shared_task(name="ecom_ai.tasks.drain_served_lists", ignore_result=True)
def drain_served_lists(max_lists: int = 100_000) -> int:
    """Store the served lists waiting in the queue (``RECOMMEND_LOG_MODE = "queue"``), at
    most ``max_lists`` per run; returns how many were stored (0: another worker drains)."""
    from ecom_ai.recommend import log_queue

    if not ecom_settings.RECOMMEND_LOG_QUEUE_URL:
        return 0
    return log_queue.drain(max_lists=max_lists)


# --- attribution of clicks / add-to-carts / purchases, after commit (ecom_ai.recommend.attribution) --


@shared_task(name="ecom_ai.tasks.attribute_events", ignore_result=True)
def attribute_events(event_ids, attempt: int = 0) -> int:
    """Credit the served lists behind these stored events; returns how many events wait for a
    later try (their ``rec_id`` names a list not stored yet). Those are sent again with a
    countdown (``attribution.retry_delays()``) when a broker is configured. Idempotent for
    credited events: they are never sent again."""
    from ecom_ai.recommend import attribution

    waiting = attribution.attribute_event_ids(event_ids)
    delays = attribution.retry_delays()
    if waiting and attempt < len(delays) and celery_enabled():
        attribute_events.apply_async(
            args=(waiting,), kwargs={"attempt": attempt + 1}, countdown=delays[attempt], queue=ecom_settings.TASK_QUEUE
        )
    return len(waiting)


def enqueue_attribution(events) -> None:
    """The attribution dispatcher (set by ``ecom_ai.apps``; called after the events' commit):
    their ids to the task on a worker; without a broker (or when it cannot be reached) in
    this process, with the events at hand. Never raises into the caller."""
    if celery_enabled():
        try:
            attribute_events.apply_async(args=([e.pk for e in events],), queue=ecom_settings.TASK_QUEUE)
            return
        except Exception:  # noqa: BLE001 - a broker down must not lose the credit nor break the request
            logger.exception(
                "ecom_ai: could not queue the attribution of %d event(s); attributing in-process", len(events)
            )
    from ecom_ai.recommend import attribution

    attribution.attribute_now(events)
