"""The sweep: recent placed orders without a fraud assessment are assessed now.

Every placed order should end with an assessment (scored, or ``error`` → review). The
scoring task retries transient database errors and stores an ``error`` assessment at the
end, but a task can still be lost (a broker restarted without persistence, a worker killed
between taking the task and scoring, the error assessment failing on a dead database). The
sweep closes that gap: ``ecom_ai_assess_orders --missing`` or the beat task
``ecom_ai.tasks.fraud.assess_missing_orders`` looks at the orders placed within
``FRAUD_SWEEP_HOURS`` (older than ``FRAUD_SWEEP_GRACE_SECONDS``, which are left to their own
task) and assesses each one that has no assessment, with the same pipeline as the task.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger("ecom_ai.fraud")

CHUNK = 500
#: without a mapped ``created_at`` the sweep looks at this many newest orders (by primary key)
NEWEST_WITHOUT_DATES = 5000


@dataclass
class SweepResult:
    checked: int = 0
    missing: int = 0
    assessed: int = 0
    errors: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _recent_orders(hours: float, grace_seconds: float):
    from ecom_ai.adapters import get_adapter

    adapter = get_adapter()
    model = adapter.order_model
    if model is None:
        return None
    manager = model._default_manager
    created = adapter.order_lookup("created_at")
    if created:
        now = timezone.now()
        return manager.filter(
            **{
                f"{created}__gte": now - timedelta(hours=hours),
                f"{created}__lte": now - timedelta(seconds=grace_seconds),
            }
        ).order_by(created, "pk")
    return manager.order_by("-pk")[:NEWEST_WITHOUT_DATES]


def missing_order_keys(hours: float | None = None, grace_seconds: float | None = None) -> tuple[int, list[str]]:
    """``(orders checked, keys of those without an assessment)`` within the sweep's window."""
    from ecom_ai.adapters import get_adapter
    from ecom_ai.models.fraud import FraudAssessment

    hours = ecom_settings.FRAUD_SWEEP_HOURS if hours is None else hours
    grace = ecom_settings.FRAUD_SWEEP_GRACE_SECONDS if grace_seconds is None else grace_seconds
    orders = _recent_orders(hours, grace)
    if orders is None:
        return 0, []
    adapter = get_adapter()
    checked, missing, chunk = 0, [], []

    def flush():
        known = set(FraudAssessment.objects.filter(order_key__in=chunk).values_list("order_key", flat=True))
        missing.extend(key for key in chunk if key not in known)
        chunk.clear()

    for order in orders.iterator(chunk_size=CHUNK):
        checked += 1
        chunk.append(str(adapter.order_key(order))[:191])
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return checked, missing


def assess_missing_orders(hours: float | None = None, grace_seconds: float | None = None) -> SweepResult:
    """Assess every order of the window that has no assessment; returns the counts."""
    from ecom_ai.fraud.scoring import assess_order_by_key

    result = SweepResult()
    if not ecom_settings.FRAUD_ENABLED:
        return result
    result.checked, keys = missing_order_keys(hours, grace_seconds)
    result.missing = len(keys)
    for key in keys:
        assessment = assess_order_by_key(key, {})
        if assessment is None or assessment.scorer == "error":
            result.errors += 1
        else:
            result.assessed += 1
    if keys:
        logger.warning(
            "ecom_ai: the fraud sweep found %d placed order(s) without an assessment; %d scored, "
            "%d sent to review as errors",
            result.missing,
            result.assessed,
            result.errors,
        )
    return result
