"""Two senders retrying the same batch at the same moment, on real connections."""

import threading

import pytest
from django.db import connection

from ecom_ai.events.tracking import record_batch
from ecom_ai.models import Event


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_batch_store_each_event_once():
    batch = [
        {"event_type": "view", "visitor_key": "v", "item_key": str(i), "client_event_id": f"id-{i}"} for i in range(200)
    ]
    barrier = threading.Barrier(4)
    results, failures = [], []

    def send():
        try:
            barrier.wait(timeout=10)
            results.append(record_batch(batch, source="pos"))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert Event.objects.filter(source="pos").count() == 200
    assert sum(r.accepted for r in results) == 200
    assert all(r.accepted + r.duplicates == 200 for r in results)
