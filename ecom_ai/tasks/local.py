"""The local background runner: training without a Celery broker.

With no broker (``TASK_MODE = "auto"`` without one, or ``"inline"``) and ``ECOM_AI["LOCAL_TRAINING"]
= "thread"`` (the default), ``dispatch(..., background=True)`` hands a training task to this
runner instead of running it inside the caller: one daemon thread per process works through a
queue of tasks, one at a time (training is CPU/GPU-bound: two at once would only slow both), so an
admin request that asks for a training returns at once and the run's progress shows in the admin.

Where the thread lives: the process that asked (the web process for the admin's "Train a new
version", the command's process for ``ecom_ai_train_all --background``). When that process exits
before a training ends, the run is marked failed ("interrupted") on the way out, so its kind is
not locked until ``TRAINING_LOCK_TIMEOUT``. Production sites run a Celery worker instead
(``celery -A proj worker -Q ecom_ai_training``): its trainings outlive web restarts.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("ecom_ai.tasks")

_jobs: queue.Queue = queue.Queue()
_lock = threading.Lock()
_thread: threading.Thread | None = None
_active_runs: set[int] = set()  # TrainingRun ids queued on or running in this process's runner


def submit(func: Callable[..., Any], *args, run_id: int | None = None, **kwargs) -> None:
    """Run ``func(*args, **kwargs)`` on this process's background thread (after the jobs before it)."""
    global _thread
    if run_id is not None:
        _active_runs.add(run_id)
    _jobs.put((func, args, kwargs, run_id))
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_work, name="ecom_ai-training", daemon=True)
            _thread.start()


def pending() -> int:
    """Jobs queued or running on this process's runner."""
    return _jobs.unfinished_tasks


def wait(timeout: float | None = None) -> bool:
    """Block until every submitted job is done (True), or ``timeout`` seconds pass (False)."""
    done = threading.Event()

    def join():
        _jobs.join()
        done.set()

    threading.Thread(target=join, daemon=True).start()
    return done.wait(timeout)


def _work() -> None:
    from django.db import close_old_connections, connections

    while True:
        func, args, kwargs, run_id = _jobs.get()
        try:
            close_old_connections()
            func(*args, **kwargs)
        except BaseException:  # a failing job must not end the runner; train_model records the failure
            logger.exception("ecom_ai: a background training job failed")
        finally:
            _active_runs.discard(run_id)
            connections.close_all()
            _jobs.task_done()


@atexit.register
def _interrupt_unfinished() -> None:
    """The process exits with trainings unfinished: say so on their runs (else the kind stays locked)."""
    if not _active_runs:
        return
    try:
        from django.utils import timezone

        from ecom_ai.models.registry import TrainingRun

        TrainingRun.objects.filter(pk__in=list(_active_runs), status__in=TrainingRun.LOCKING_STATUSES).update(
            status=TrainingRun.Status.FAILED,
            finished_at=timezone.now(),
            message="Interrupted: the process that ran this training (a local background thread, no Celery "
            "broker) exited before it finished. Train again, or run a Celery worker for trainings that "
            "outlive the web process.",
        )
    except Exception:  # the database may be gone already
        logger.warning("ecom_ai: could not mark the unfinished background trainings as interrupted", exc_info=True)
