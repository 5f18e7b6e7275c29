"""A broker that cannot be reached never turns a committed request into an error (issue 12)."""

from __future__ import annotations

import pytest

from ecom_ai.models import TrainingRun
from tests.ml.toy import trainers
from tests.reliability.conftest import free_port


@pytest.fixture
def dead_broker(settings):
    from celery import Celery, _state

    app = Celery("ecom_ai_dead_broker", set_as_current=False)
    app.conf.update(
        broker_url=f"redis://127.0.0.1:{free_port()}/0",
        broker_connection_timeout=1,
        broker_connection_max_retries=0,
        task_publish_retry_policy={"max_retries": 0},
    )
    previous = _state._tls.current_app
    app.set_current()
    settings.ECOM_AI = {**settings.ECOM_AI, "TASK_MODE": "celery", "TRAINERS": trainers(toy="ToyTrainer")}
    yield app
    _state._tls.current_app = previous


@pytest.mark.django_db(transaction=True)
def test_a_training_that_cannot_be_queued_releases_its_lock(dead_broker, caplog):
    from ecom_ai.tasks.ml import request_training

    run = request_training("toy")  # autocommit: on_commit runs at once, and must not raise
    run.refresh_from_db()
    assert run.status == "failed" and "Could not be queued" in run.message
    assert "could not queue task ecom_ai.train_model" in caplog.text
    again = request_training("toy")  # the kind is not locked
    assert TrainingRun.objects.get(pk=again.pk).status == "failed"


@pytest.mark.django_db(transaction=True)
def test_an_order_is_scored_in_process_when_the_broker_is_down(dead_broker, make_order):
    from shop.models import Order

    from ecom_ai.models.fraud import FraudAssessment
    from ecom_ai.signals import order_placed

    order = make_order()
    order_placed.send(sender=Order, order=order, request=None)
    assert FraudAssessment.objects.get(order_key=str(order.pk)).scorer == "heuristic"
