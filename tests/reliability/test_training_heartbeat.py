"""A training's heartbeat is written by its process even when the trainer reports no progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ecom_ai.models import ModelVersion, TrainingRun


@pytest.fixture
def silent(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.ECOM_AI = {
        **settings.ECOM_AI,
        "TRAINING_HEARTBEAT_TIMEOUT": 0.8,
        "TRAINERS": {"silent": "tests.reliability.blocking_trainer.SilentTrainer"},
    }


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_beats_during_a_silent_stretch(silent):
    from ecom_ai.ml.registry import train_model

    version = train_model("silent", {"sleep": 2.0})
    # beaten every 0.2 s meanwhile, without progress updates (no thread: it would not move at all)
    assert version.metrics["heartbeat_moved_s"] > 0.3, version.metrics


@pytest.mark.django_db
def test_a_silent_running_run_is_released_when_a_training_is_requested(silent):
    from ecom_ai.tasks.ml import request_training

    old = timezone.now() - timedelta(seconds=5)
    version = ModelVersion.objects.create(kind="silent", number=1, status="training")
    dead = TrainingRun.objects.create(
        kind="silent", status="running", version=version, started_at=old, heartbeat_at=old, created_at=old
    )
    run = request_training("silent", {"sleep": 0})  # queued (sent after commit: never, in this test)
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.message.startswith("Worker lost:")
    assert ModelVersion.objects.get(pk=version.pk).status == "failed"
    assert TrainingRun.objects.get(pk=run.pk).kind == "silent"


@pytest.mark.django_db
def test_a_queued_run_is_not_dead_before_the_lock_timeout(silent):
    from ecom_ai.ml.registry import release_stale_runs

    old = timezone.now() - timedelta(seconds=60)  # far beyond TRAINING_HEARTBEAT_TIMEOUT (0.8 s)
    TrainingRun.objects.create(kind="silent", status="queued", created_at=old)
    assert release_stale_runs() == []  # waiting for a busy worker is not death (that is TRAINING_LOCK_TIMEOUT)
