"""Two processes' worth of racing for the training lock: the database lets exactly one win."""

import threading

import pytest
from django.db import connection

from ecom_ai.ml.registry import TrainingLocked, queue_training_run
from ecom_ai.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_requests_take_the_lock_once(toy_settings):
    barrier = threading.Barrier(4)
    outcomes = []

    def request():
        try:
            barrier.wait()
            queue_training_run("toy")
            outcomes.append("queued")
        except TrainingLocked:
            outcomes.append("locked")
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["locked", "locked", "locked", "queued"]
    assert TrainingRun.objects.filter(kind="toy", status="queued").count() == 1
