"""Celery tasks: thin shells over the domain packages.

ecom_ai ships ``shared_task``s only and never defines a Celery app. ``dispatch()`` sends a
task after the current transaction commits; with ``TASK_MODE = "inline"`` (or "auto" with no
broker configured) it runs the task in-process instead: right away, or, for a ``background``
task (training) with ``LOCAL_TRAINING = "thread"``, on the process's background thread
(``ecom_ai.tasks.local``). ``where_tasks_run(background=True)`` says which, for messages.
"""

from __future__ import annotations

import logging

from django.db import transaction

from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger("ecom_ai.tasks")


def celery_enabled() -> bool:
    mode = ecom_settings.TASK_MODE
    if mode != "auto":
        return mode == "celery"
    from celery import current_app

    conf = current_app.conf
    return bool(conf.broker_url) and not conf.task_always_eager and current_app.main is not None


def where_tasks_run(background: bool = False) -> str:
    """``"celery"`` (sent to a broker), ``"thread"`` (this process's background thread, for a
    ``background`` task) or ``"inline"`` (in the caller, after commit)."""
    if celery_enabled():
        return "celery"
    if background and ecom_settings.LOCAL_TRAINING == "thread":
        return "thread"
    return "inline"


def dispatch(task, *args, queue: str | None = None, background: bool = False, on_send_error=None, **kwargs):
    """Run ``task`` (a shared_task) after commit: on a worker, or in-process.

    ``background=True`` (long tasks: training) runs it, without a broker, on this process's
    background thread when ``LOCAL_TRAINING = "thread"`` instead of inside the caller.
    When the broker cannot be reached the error is logged and ``on_send_error(exc)`` (if
    given) is called, instead of raising into the request that already committed (an admin
    action must not answer a 500 for a row it has saved).
    """
    where = where_tasks_run(background)

    def send():
        if where == "celery":
            try:
                task.apply_async(args=args, kwargs=kwargs, queue=queue or ecom_settings.TASK_QUEUE)
            except Exception as exc:  # kombu's OperationalError, a refused connection...
                logger.exception("ecom_ai: could not queue task %s (is the broker reachable?)", task.name)
                if on_send_error is not None:
                    on_send_error(exc)
        elif where == "thread":
            from ecom_ai.tasks import local

            local.submit(task.apply, args=args, kwargs=kwargs, run_id=kwargs.get("run_id"))
        else:
            task.apply(args=args, kwargs=kwargs, throw=True)

    transaction.on_commit(send)


# Task modules, imported so that Celery's autodiscovery of "ecom_ai.tasks" finds them all (at the
# end: they import dispatch() from here).
from ecom_ai.tasks import catalog, events, fraud, marketing, ml, recommend  # noqa: E402,F401
