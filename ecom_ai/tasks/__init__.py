"""Celery tasks: thin shells over the domain packages.

ecom_ai ships ``shared_task``s only and never defines a Celery app. ``dispatch()`` sends a
task after the current transaction commits; with ``TASK_MODE = "inline"`` (or "auto" with no
broker configured) it runs the task in-process instead.
"""
from __future__ import annotations

from django.db import transaction

from ecom_ai.conf import settings as ecom_settings


def celery_enabled() -> bool:
    mode = ecom_settings.TASK_MODE
    if mode != "auto":
        return mode == "celery"
    from celery import current_app

    conf = current_app.conf
    return bool(conf.broker_url) and not conf.task_always_eager and current_app.main is not None


def dispatch(task, *args, queue: str | None = None, **kwargs):
    """Run ``task`` (a shared_task) after commit: on a worker, or in-process."""

    def send():
        if celery_enabled():
            task.apply_async(args=args, kwargs=kwargs, queue=queue or ecom_settings.TASK_QUEUE)
        else:
            task.apply(args=args, kwargs=kwargs, throw=True)

    transaction.on_commit(send)


# Task modules, imported so that Celery's autodiscovery of "ecom_ai.tasks" finds them all (at the
# end: they import dispatch() from here).
from ecom_ai.tasks import catalog, events, fraud, marketing, ml, recommend  # noqa: E402,F401
