"""Training through a real Celery worker over Redis, on the training queue."""

import time

import pytest

from ecom_ai.models import ModelVersion, TrainingRun
from ecom_ai.tasks.ml import request_training
from tests.ml.toy import trainers

pytestmark = pytest.mark.celery

KIND = "ml_worker_toy"  # known to the worker's settings (tests/celery_app.py)


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.2)


def test_requested_training_runs_on_the_worker(celery_worker, ecom_ai_settings):
    ecom_ai_settings(TRAINERS=trainers(**{KIND: "ToyTrainer"}))
    run = request_training(KIND, {"epochs": 4, "score": 0.75})
    assert run.status == "queued"

    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished)
    run.refresh_from_db()
    assert run.status == "succeeded", run.message
    assert run.task_id  # recorded by the worker
    assert [row["epoch"] for row in run.history] == [1, 2, 3, 4]
    version = ModelVersion.objects.get(pk=run.version_id)
    assert version.status == "active" and version.metrics["accuracy"] == 0.75
    assert version.artifact.endswith(f"{KIND}/{KIND}-v1.pt")
