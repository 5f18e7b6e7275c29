import time
from datetime import timedelta

import pytest
from django.utils import timezone

from ecom_ai.models import Event
from ecom_ai.tasks import dispatch
from ecom_ai.tasks.events import purge_old_events

pytestmark = pytest.mark.celery


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.1)


def test_purge_dispatched_runs_on_the_real_worker(celery_worker):
    now = timezone.now()
    Event.objects.bulk_create(
        [
            Event(event_type="view", channel="web", visitor_key=f"v{i}", occurred_at=now - timedelta(days=100))
            for i in range(5)
        ]
        + [Event(event_type="view", channel="web", visitor_key="recent", occurred_at=now - timedelta(days=1))]
    )
    dispatch(purge_old_events, days=30)  # autocommit: sent at once
    wait_for(lambda: Event.objects.count() == 1)
    assert list(Event.objects.values_list("visitor_key", flat=True)) == ["recent"]


def test_worker_result_comes_back_through_redis(celery_worker):
    now = timezone.now()
    Event.objects.create(event_type="view", channel="web", visitor_key="old", occurred_at=now - timedelta(days=50))
    result = purge_old_events.apply_async(kwargs={"days": 10}, queue=celery_worker["queue"])
    assert result.get(timeout=30) == 1
    assert not Event.objects.exists()
