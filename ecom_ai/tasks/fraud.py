"""Fraud tasks: a thin shell over ``ecom_ai.fraud.scoring``."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.fraud.scoring import TransientScoringError

logger = logging.getLogger("ecom_ai.fraud")


@shared_task(
    bind=True,
    name="ecom_ai.tasks.fraud.assess_order",
    ignore_result=True,
    autoretry_for=(TransientScoringError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def assess_order_task(self, order_key: str, context: dict | None = None):
    """Assess one host order (idempotent: re-running updates the same assessment).

    A transient database error (the connection dropped, the server restarting) is retried
    with backoff (2, 4, 8 ... s, six times: about two minutes); the last try stores an
    ``error`` assessment (→ review) instead, so every placed order ends with an assessment.
    ``ecom_ai_assess_orders --missing`` (task ``assess_missing_orders``) catches the rest.
    """
    from ecom_ai.fraud.scoring import assess_order_by_key

    last_try = self.request.retries >= (self.max_retries or 0)
    assessment = assess_order_by_key(str(order_key), context or {}, retry_transient=not last_try)
    return assessment.pk if assessment is not None else None


@shared_task(name="ecom_ai.tasks.fraud.assess_missing_orders", ignore_result=True)
def assess_missing_orders_task(hours: float | None = None) -> dict:
    """Assess recent placed orders that have no assessment (a beat task; see docs/fraud.md)."""
    from ecom_ai.fraud.sweep import assess_missing_orders

    return assess_missing_orders(hours=hours).as_dict()


def enqueue_assessment(order_key: str, context: dict | None = None) -> None:
    """Send ``assess_order_task`` once the current transaction commits.

    Unlike ``ecom_ai.tasks.dispatch`` this never lets an error reach the caller (the
    checkout): a broker that cannot be reached falls back to scoring in-process.
    """
    from ecom_ai.tasks import celery_enabled

    def send():
        try:
            if celery_enabled():
                assess_order_task.apply_async(args=(order_key, context), queue=ecom_settings.TASK_QUEUE)
                return
        except Exception:
            logger.exception("ecom_ai: could not queue the fraud assessment of order %r; scoring in-process", order_key)
        try:
            assess_order_task.apply(args=(order_key, context))
        except Exception:  # the task itself never raises; this is belt and braces
            logger.exception("ecom_ai: fraud assessment of order %r failed", order_key)

    transaction.on_commit(send, robust=True)
