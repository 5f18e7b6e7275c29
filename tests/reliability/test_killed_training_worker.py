"""A Celery worker SIGKILLed in the middle of a training (issue 12, item 8).

A real worker subprocess (its own queues, ``TRAINING_HEARTBEAT_TIMEOUT`` of 2 s) trains a
kind that keeps going until the test lets it finish; the test SIGKILLs the worker mid-epoch.
The run must be marked failed within the heartbeat timeout (by the periodic watcher,
``ecom_ai.tasks.ml.watch_trainings``), its lock released and its ``training`` version failed,
and a new training of that kind must be queued without an admin — and succeed on the next
worker.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from tests.workers import CeleryWorker

from ecom_ai.models import ModelVersion, TrainingRun

pytestmark = [pytest.mark.celery, pytest.mark.slow]

KIND = "ml_worker_blocking"  # known to the worker (tests/celery_app.py)
HEARTBEAT_TIMEOUT = 2.0


def Worker(db_name: str, queue: str, training_queue: str) -> CeleryWorker:
    return CeleryWorker(
        db_name,
        queue,
        training_queue,
        name="kill",
        env={"OMP_NUM_THREADS": "1"},
        extra_settings={"TRAINING_HEARTBEAT_TIMEOUT": HEARTBEAT_TIMEOUT},
    )


def wait_for(condition, timeout, what, worker=None):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s\n{worker.tail() if worker else ''}")
        time.sleep(0.1)


@pytest.fixture
def queues(django_db_setup, transactional_db, settings):
    """This test's own queues on the suite's Redis, TASK_MODE celery, a short heartbeat timeout."""
    from celery import _state

    suffix = uuid.uuid4().hex[:8]
    names = (f"ecom_ai_kill_{suffix}", f"ecom_ai_kill_training_{suffix}")
    settings.ECOM_AI = {
        **settings.ECOM_AI,
        "TASK_MODE": "celery",
        "TASK_QUEUE": names[0],
        "TRAINING_QUEUE": names[1],
        "TRAINING_HEARTBEAT_TIMEOUT": HEARTBEAT_TIMEOUT,
        "TRAINERS": {
            **settings.ECOM_AI.get("TRAINERS", {}),
            KIND: "tests.reliability.blocking_trainer.BlockingTrainer",
        },
    }
    from tests import celery_app

    app = celery_app.app  # the suite's broker (ECOM_AI_TEST_REDIS); this test's own queues and worker
    previous = _state._tls.current_app
    app.set_current()
    try:
        yield names
    finally:
        _state._tls.current_app = previous
        for name in names:
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(name)


def test_a_killed_training_is_failed_by_heartbeat_and_restarted(queues, tmp_path):
    from django.db import connection

    from ecom_ai.tasks.ml import request_training, watch_trainings

    db_name = str(connection.settings_dict["NAME"])
    block_file = tmp_path / "keep-training"
    block_file.write_text("1")
    first = Worker(db_name, *queues)
    second = None
    try:
        run = request_training(KIND, {"block_file": str(block_file)})
        wait_for(lambda: (TrainingRun.objects.get(pk=run.pk).epoch or 0) >= 3, 90, "the training did not start", first)
        run.refresh_from_db()
        assert run.status == "running" and run.version_id

        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        killed_at = time.monotonic()

        # the periodic watcher (beat, e.g. every minute; here every 0.2 s)
        restarted: list[int] = []

        def released():
            restarted.extend(watch_trainings.apply().get())
            return TrainingRun.objects.get(pk=run.pk).status == "failed"

        wait_for(released, HEARTBEAT_TIMEOUT + 10, "the dead run was not released")
        detected_after = time.monotonic() - killed_at
        run.refresh_from_db()
        assert run.message.startswith("Worker lost:") and f"Restarted as run #{restarted[0]}" in run.message
        assert ModelVersion.objects.get(pk=run.version_id).status == "failed"
        assert detected_after <= HEARTBEAT_TIMEOUT + 1.5, detected_after  # within the timeout (+ watcher period)

        new_run = TrainingRun.objects.get(pk=restarted[0])
        assert new_run.kind == KIND and new_run.status == "queued" and new_run.requested_by is None
        block_file.unlink()  # the next attempt may finish
        second = Worker(db_name, *queues)
        wait_for(
            lambda: TrainingRun.objects.get(pk=new_run.pk).is_finished, 120, "the restarted run did not finish", second
        )
        new_run.refresh_from_db()
        assert new_run.status == "succeeded", new_run.message
        assert ModelVersion.objects.get(pk=new_run.version_id).status == "active"
        assert watch_trainings.apply().get() == []  # nothing else to restart
        print(
            f"\nkilled training detected after {detected_after:.2f} s (TRAINING_HEARTBEAT_TIMEOUT "
            f"{HEARTBEAT_TIMEOUT} s); restarted as run #{new_run.pk}, which succeeded"
        )
    finally:
        first.stop()
        if second is not None:
            second.stop()
