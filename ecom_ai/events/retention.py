"""Retention: delete events older than ``RETENTION_DAYS``, in chunks."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import Event

CHUNK_SIZE = 5000


def retention_cutoff(days: int | None = None):
    """The time before which events are purged, or None when events are kept forever."""
    days = ecom_settings.RETENTION_DAYS if days is None else days
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    return timezone.now() - timedelta(days=days)


def purge_old_events(days: int | None = None, *, dry_run: bool = False, chunk_size: int = CHUNK_SIZE) -> int:
    """Delete events that occurred more than ``days`` (default ``RETENTION_DAYS``) ago.

    Returns how many were deleted (or would be, with ``dry_run``). With
    ``RETENTION_DAYS = None`` and no ``days``, nothing is deleted. Deletes in chunks of
    ``chunk_size`` rows, each its own short transaction, so a large purge never holds
    long locks.
    """
    cutoff = retention_cutoff(days)
    if cutoff is None:
        return 0
    old = Event.objects.filter(occurred_at__lt=cutoff)
    if dry_run:
        return old.count()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(old.order_by().values_list("pk", flat=True)[:chunk_size])
            if not ids:
                break
            deleted, _ = Event.objects.filter(pk__in=ids).delete()
        total += deleted
        if len(ids) < chunk_size:
            break
    return total
