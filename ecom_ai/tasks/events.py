"""Events tasks."""

from celery import shared_task

from ecom_ai.events import retention


@shared_task(name="ecom_ai.tasks.events.purge_old_events")
def purge_old_events(days=None):
    """Delete events older than ``days`` (default ``RETENTION_DAYS``); returns the count."""
    return retention.purge_old_events(days)
