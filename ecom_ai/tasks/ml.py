"""Training tasks: a thin shell over ``ecom_ai.ml.registry``.

``request_training(kind)`` takes the kind's training lock (a queued ``TrainingRun``) and
sends ``train_model_task`` to ``ECOM_AI["TRAINING_QUEUE"]`` after commit — a GPU worker
can own that queue (``celery -A proj worker -Q ecom_ai_training``). For periodic
retraining a host adds beat entries naming the task ``"ecom_ai.train_model"`` (see docs/ml.md).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.ml.registry import WORKER_LOST, NotEnoughData, TrainingLocked, queue_training_run, train_model
from ecom_ai.models.registry import TrainingRun
from ecom_ai.tasks import dispatch

logger = logging.getLogger("ecom_ai.tasks")


#: retry policy of every training task: transient database errors, with backoff; the message is
#: acknowledged when the task ends, and given back to the broker when the worker process dies
#: (``acks_late`` + ``reject_on_worker_lost``), so a killed training is delivered again
TRAINING_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 3,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(bind=True, name="ecom_ai.train_model", **TRAINING_RETRY)
def train_model_task(self, kind, params=None, user_id=None, run_id=None):
    """Train a new ``kind`` version; returns a small summary dict.

    Transient database errors are retried with backoff (a fresh run each time). A held lock
    (``TrainingLocked``), missing data (``NotEnoughData``) or a failing trainer end the task
    without retry; the failure is recorded on the ``TrainingRun`` and logged.
    """
    return run_training(self, kind, params, user_id=user_id, run_id=run_id)


def run_training(task, kind, params=None, *, user_id=None, run_id=None) -> dict:
    """The body of every training task (``task`` is the bound Celery task): train ``kind``
    for its queued ``TrainingRun`` and return a summary dict; database errors propagate so
    the task's ``autoretry_for`` retries them."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    run = TrainingRun.objects.filter(pk=run_id).first() if run_id else None
    if run_id and run is None:
        logger.warning("ecom_ai: training run #%s no longer exists; nothing to do", run_id)
        return {"kind": kind, "status": "skipped", "message": f"run #{run_id} does not exist"}
    if run is not None and task.request.retries:
        # a retry after a database error: the first attempt's run is over either way
        TrainingRun.objects.filter(pk=run.pk, status__in=TrainingRun.LOCKING_STATUSES).update(
            status=TrainingRun.Status.FAILED, message="Interrupted by a database error; retried as a new run."
        )
        run = None
    elif run is not None and run.status != TrainingRun.Status.QUEUED:
        # delivered again (acks_late): the worker that took it died, or a copy is still running
        verdict = _redelivered(run)
        if verdict is not None:
            return {"kind": kind, "status": "skipped", "message": verdict}
        run = None  # the dead attempt was released: train as a new run
    if run is not None:
        TrainingRun.objects.filter(pk=run.pk).update(task_id=task.request.id or "")
    try:
        version = train_model(kind, params, user=user or (run.requested_by if run else None), run=run)
    except TrainingLocked as exc:
        logger.info("ecom_ai: %s", exc)
        return {"kind": kind, "status": "locked", "message": str(exc)}
    except NotEnoughData as exc:
        return {"kind": kind, "status": "not_enough_data", "message": str(exc)}
    except (OperationalError, InterfaceError):
        raise  # autoretry
    except Exception as exc:  # recorded on the run by train_model; don't crash the caller (inline mode)
        logger.exception("ecom_ai: %s training failed", kind)
        return {"kind": kind, "status": "failed", "message": f"{type(exc).__name__}: {exc}"}
    return {"kind": kind, "status": version.status, "version": version.number, "metrics": version.metrics}


def _redelivered(run: TrainingRun) -> str | None:
    """For a task delivered again whose run is not queued any more: ``None`` to train as a
    new run (its attempt died and was released), else why not."""
    from ecom_ai.ml.registry import release_stale_runs

    if run.status == TrainingRun.Status.RUNNING:
        release_stale_runs(run.kind)
        run.refresh_from_db()
        if run.status == TrainingRun.Status.RUNNING:
            return f"run #{run.pk} is still running elsewhere (its heartbeat is fresh)"
    if run.status == TrainingRun.Status.SUCCEEDED:
        return f"run #{run.pk} has finished"
    if not (run.message or "").startswith(WORKER_LOST):
        return f"run #{run.pk} was stopped ({run.message[:200]})"
    if TrainingRun.objects.filter(kind=run.kind, created_at__gt=run.created_at).exists():
        return f"run #{run.pk} was already restarted"
    return None


def restart_dead_trainings() -> list[TrainingRun]:
    """Release dead runs (``release_stale_runs``) and queue each killed training again, once:
    a run is not restarted when the kind's previous run was itself lost (a training that
    kills its worker, e.g. out of memory, is not retried for ever). Returns the new runs."""
    from ecom_ai.ml.registry import release_stale_runs

    restarted = []
    for dead in release_stale_runs():
        if not dead.message.startswith(WORKER_LOST):
            continue
        previous = (
            TrainingRun.objects.filter(kind=dead.kind, created_at__lt=dead.created_at)
            .order_by("-created_at", "-pk")
            .values_list("message", flat=True)
            .first()
        )
        if previous and previous.startswith(WORKER_LOST):
            logger.error(
                "ecom_ai: %s training run #%s was lost like the one before it; not restarting it", dead.kind, dead.pk
            )
            continue
        try:
            run = request_training(dead.kind, dict(dead.params or {}), user=dead.requested_by)
        except TrainingLocked:
            continue  # someone started one meanwhile
        TrainingRun.objects.filter(pk=dead.pk).update(message=f"{dead.message} Restarted as run #{run.pk}.")
        logger.warning("ecom_ai: restarted the lost %s training run #%s as #%s", dead.kind, dead.pk, run.pk)
        restarted.append(run)
    return restarted


@shared_task(name="ecom_ai.tasks.ml.watch_trainings", ignore_result=True)
def watch_trainings() -> list[int]:
    """Periodic (beat, e.g. every minute): fail runs whose worker died and restart them once."""
    return [run.pk for run in restart_dead_trainings()]


def request_training(kind, params=None, user=None) -> TrainingRun:
    """Queue a training of ``kind``: creates a queued ``TrainingRun`` and dispatches the task.

    Raises ``UnknownModelKind`` (an ``ImproperlyConfigured``) for a kind without trainer and
    ``TrainingLocked`` when a training of that kind is already queued or running.
    """
    run = queue_training_run(kind, params, user=user)
    dispatch(
        train_model_task,
        kind,
        params=dict(params or {}),
        user_id=getattr(run.requested_by, "pk", None),
        run_id=run.pk,
        queue=ecom_settings.TRAINING_QUEUE,
        background=True,
        on_send_error=lambda exc: _not_queued(run, exc),
    )
    return run


def _not_queued(run: TrainingRun, exc: BaseException) -> None:
    """The broker refused the task: release the lock at once, with the reason on the run."""
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.FAILED,
        message=f"Could not be queued ({type(exc).__name__}: {exc}); is the Celery broker reachable? Try again.",
    )


def where_training_runs() -> str:
    """A sentence for messages: where a training requested now runs."""
    from ecom_ai.tasks import where_tasks_run

    where = where_tasks_run(background=True)
    if where == "celery":
        return f'It runs on a Celery worker (queue "{ecom_settings.TRAINING_QUEUE}").'
    if where == "thread":
        return (
            "It runs in a background thread of this process (no Celery broker is configured) and stops if "
            "this process stops."
        )
    return 'It runs in this process, inside this request (no Celery broker; LOCAL_TRAINING is "inline").'
