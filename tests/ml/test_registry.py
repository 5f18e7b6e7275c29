from datetime import timedelta

import pytest
import torch
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from ecom_ai import signals
from ecom_ai.ml.artifacts import ArtifactError
from ecom_ai.ml.registry import (
    NotEnoughData,
    ProgressReporter,
    TrainingLocked,
    UnknownModelKind,
    activate,
    active_version,
    get_trainer,
    load_active,
    passes_gate,
    queue_training_run,
    rollback,
    train_model,
)
from ecom_ai.models import ModelVersion, TrainingRun
from tests.ml.toy import ReentrantTrainer, ToyModel, ToyTrainer, trainers

pytestmark = pytest.mark.django_db


def test_first_version_trains_stores_and_activates(toy_settings):
    version = train_model("toy", {"epochs": 4})

    assert (version.kind, version.number, version.status) == ("toy", 1, "active")
    assert version.metrics["accuracy"] == 0.8
    assert version.params == {"epochs": 4}
    assert version.artifact.endswith("toy/toy-v1.pt")
    assert version.activated_at is not None
    run = version.training_runs.get()
    assert run.status == "succeeded" and run.percent == 100.0
    assert [row["epoch"] for row in run.history] == [1, 2, 3, 4]
    assert all("loss" in row and "accuracy" in row for row in run.history)
    assert run.history[0]["loss"] > run.history[-1]["loss"]
    assert run.elapsed is not None and run.finished_at >= run.started_at
    assert "activated" in run.message
    model = load_active("toy")
    assert isinstance(model, ToyModel)
    assert model.predict(1.0) == pytest.approx(2.0, abs=0.1)


def test_better_version_replaces_active_worse_one_stays_ready(toy_settings):
    first = train_model("toy", {"score": 0.80})
    better = train_model("toy", {"score": 0.85})
    first.refresh_from_db()
    assert better.status == "active" and first.status == "retired"

    worse = train_model("toy", {"score": 0.70})
    assert worse.status == "ready"
    assert "worse than the active v2" in worse.notes
    assert active_version("toy") == better

    within_tolerance = train_model("toy", {"score": 0.845})  # tolerance 0.01 (absolute)
    assert within_tolerance.status == "active"


def test_gate_direction_for_lower_is_better(ecom_ai_settings, toy_settings):
    ecom_ai_settings(TRAINERS=trainers(toy="LowerIsBetterTrainer"))
    first = train_model("toy", {"score": 0.20})
    assert train_model("toy", {"score": 0.30}).status == "ready"
    assert train_model("toy", {"score": 0.15}).status == "active"
    assert passes_gate(first, None) is True


def test_gate_edge_cases(toy_settings):
    active = ModelVersion(kind="toy", number=1, metrics={"accuracy": 0.9}, pk=1)
    assert passes_gate(ModelVersion(kind="toy", number=2, metrics={}, pk=2), active) is False
    assert passes_gate(ModelVersion(kind="toy", number=2, metrics={"accuracy": float("nan")}, pk=2), active) is False
    assert (
        passes_gate(
            ModelVersion(kind="toy", number=2, metrics={"accuracy": 0.5}, pk=2),
            ModelVersion(kind="toy", number=1, metrics={}, pk=1),
        )
        is True
    )


def test_failing_trainer_leaves_active_untouched(ecom_ai_settings, toy_settings):
    good = train_model("toy")
    ecom_ai_settings(TRAINERS=trainers(toy="BrokenTrainer"))
    with pytest.raises(RuntimeError, match="boom"):
        train_model("toy")
    failed = ModelVersion.objects.get(kind="toy", number=2)
    assert failed.status == "failed" and "boom in epoch 2" in failed.error
    run = failed.training_runs.get()
    assert run.status == "failed" and "RuntimeError: boom in epoch 2" in run.message
    assert run.finished_at is not None
    assert active_version("toy") == good
    ecom_ai_settings(TRAINERS=trainers(toy="ToyTrainer"))
    assert isinstance(load_active("toy"), ToyModel)
    assert train_model("toy").number == 3  # the lock was released


def test_not_enough_data_fails_the_run_with_its_reason(ecom_ai_settings, toy_settings):
    good = train_model("toy")
    ecom_ai_settings(TRAINERS=trainers(toy="EmptyTrainer"))
    with pytest.raises(NotEnoughData):
        train_model("toy")
    run = TrainingRun.objects.latest("id")
    assert run.status == "failed"
    assert run.message == "Not enough data to train toy: only 3 orders, need 40"
    assert list(ModelVersion.objects.values_list("number", "status")) == [(1, "active")]
    assert active_version("toy") == good


def test_payload_with_disallowed_types_fails_at_training_time(ecom_ai_settings, toy_settings):
    ecom_ai_settings(TRAINERS=trainers(toy="NumpyPayloadTrainer"))
    with pytest.raises(ArtifactError, match="not allowed"):
        train_model("toy")
    assert ModelVersion.objects.get().status == "failed"
    assert active_version("toy") is None


def test_second_concurrent_training_is_refused(ecom_ai_settings, toy_settings):
    ecom_ai_settings(TRAINERS=trainers(toy="ReentrantTrainer"))
    ReentrantTrainer.seen.clear()
    version = train_model("toy")
    assert version.status == "active"
    assert len(ReentrantTrainer.seen) == 1
    assert isinstance(ReentrantTrainer.seen[0], TrainingLocked)
    assert "already queued or running" in str(ReentrantTrainer.seen[0])
    assert TrainingRun.objects.count() == 1


def test_database_refuses_two_locking_runs_of_a_kind(toy_settings):
    TrainingRun.objects.create(kind="toy", status="running")
    TrainingRun.objects.create(kind="other", status="running")
    TrainingRun.objects.create(kind="toy", status="failed")
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(kind="toy", status="queued")


def test_queued_run_holds_the_lock_until_it_runs(toy_settings):
    run = queue_training_run("toy", {"epochs": 2})
    with pytest.raises(TrainingLocked):
        train_model("toy")
    version = train_model("toy", {"epochs": 2}, run=run)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.version == version
    with pytest.raises(TrainingLocked, match="not queued"):
        train_model("toy", run=run)  # a finished run is never started again


def test_stale_lock_is_released(toy_settings):
    old = timezone.now() - timedelta(hours=7)
    stale_version = ModelVersion.objects.create(kind="toy", number=1, status="training")
    stale = TrainingRun.objects.create(
        kind="toy", status="running", version=stale_version, started_at=old, heartbeat_at=old, created_at=old
    )
    version = train_model("toy")
    stale.refresh_from_db()
    stale_version.refresh_from_db()
    assert stale.status == "failed" and "no sign of life" in stale.message
    assert stale_version.status == "failed"
    assert version.number == 2 and version.status == "active"


def test_fresh_lock_is_not_released(toy_settings):
    TrainingRun.objects.create(kind="toy", status="running", heartbeat_at=timezone.now())
    with pytest.raises(TrainingLocked):
        train_model("toy")


def test_activate_and_rollback_send_signal(toy_settings):
    user = get_user_model().objects.create_user("staff", is_staff=True)
    received = []

    def receiver(sender, version, previous, **kwargs):
        received.append((version.number, previous and previous.number))

    signals.model_activated.connect(receiver)
    try:
        v1 = train_model("toy", {"score": 0.8})
        v2 = train_model("toy", {"score": 0.9})
        v3 = train_model("toy", {"score": 0.1})  # stays ready
        assert v3.status == "ready"
        activate(v3, user=user)
        assert active_version("toy") == v3
        v3.refresh_from_db()
        assert v3.activated_by == user
        back = rollback("toy", user=user)
        assert back == v2
        assert ModelVersion.objects.get(pk=v3.pk).status == "retired"
    finally:
        signals.model_activated.disconnect(receiver)
    assert received == [(1, None), (2, 1), (3, 2), (2, 3)]
    assert ModelVersion.objects.filter(kind="toy", status="active").count() == 1
    v1.refresh_from_db()
    assert v1.status == "retired"


def test_rollback_without_history_and_activate_failed_are_refused(ecom_ai_settings, toy_settings):
    with pytest.raises(ValueError, match="no retired toy version"):
        rollback("toy")
    ecom_ai_settings(TRAINERS=trainers(toy="BrokenTrainer"))
    with pytest.raises(RuntimeError):
        train_model("toy")
    with pytest.raises(ValueError, match="only ready or retired"):
        activate(ModelVersion.objects.get())


def test_database_refuses_two_active_versions(toy_settings):
    ModelVersion.objects.create(kind="toy", number=1, status="active")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(kind="toy", number=2, status="active")


def test_load_active_notices_a_new_activation(toy_settings, ecom_ai_settings):
    ecom_ai_settings(ACTIVE_MODEL_CHECK_SECONDS=3600)
    assert load_active("toy") is None
    v1 = train_model("toy", {"score": 0.8})
    # the activating process forgets its cached "nothing active" at once
    first = load_active("toy")
    assert isinstance(first, ToyModel)
    assert load_active("toy") is first  # same object: loaded once
    ecom_ai_settings(ACTIVE_MODEL_CHECK_SECONDS=0)  # (a settings change also clears the cache)
    first = load_active("toy")
    v2 = train_model("toy", {"score": 0.9})
    second = load_active("toy")
    assert second is not first
    rollback("toy")
    assert load_active("toy") is not second
    assert v1 and v2


def test_another_process_activation_is_seen_after_the_interval(toy_settings, ecom_ai_settings):
    """An activation elsewhere (a worker) is noticed only after ACTIVE_MODEL_CHECK_SECONDS."""
    ecom_ai_settings(ACTIVE_MODEL_CHECK_SECONDS=3600)
    v1 = train_model("toy", {"score": 0.8})
    first = load_active("toy")
    assert isinstance(first, ToyModel)
    # what a worker process does, without touching this process's memory: v2 becomes active
    v2 = ModelVersion.objects.create(kind="toy", number=v1.number + 1, status="ready", artifact=v1.artifact)
    ModelVersion.objects.filter(pk=v1.pk).update(status="retired")
    ModelVersion.objects.filter(pk=v2.pk).update(status="active")
    assert load_active("toy") is first  # within the check interval: the loaded one still serves
    ecom_ai_settings(ACTIVE_MODEL_CHECK_SECONDS=0)
    assert load_active("toy") is not first


def test_load_active_checks_at_most_every_interval(toy_settings, ecom_ai_settings, django_assert_num_queries):
    ecom_ai_settings(ACTIVE_MODEL_CHECK_SECONDS=3600)
    train_model("toy")
    assert load_active("toy") is not None
    with django_assert_num_queries(0):
        for _ in range(50):
            load_active("toy")


def test_load_active_with_missing_or_corrupt_artifact_returns_none(toy_settings, caplog):
    from django.core.files.storage import default_storage

    version = train_model("toy")
    default_storage.delete(version.artifact)
    assert load_active("toy") is None
    assert "is missing from storage 'default'" in caplog.text

    with default_storage.open(version.artifact, "wb") as handle:
        handle.write(b"this is not a torch file")
    from ecom_ai.ml.registry import clear_loaded_models

    clear_loaded_models()
    assert load_active("toy") is None
    assert "is corrupt" in caplog.text


def test_unknown_kind_is_a_clear_error(toy_settings):
    with pytest.raises(UnknownModelKind, match=r"No trainer for model kind 'nope'.*known kinds: toy"):
        train_model("nope")
    with pytest.raises(ImproperlyConfigured):
        get_trainer("nope")
    assert load_active("nope") is None
    assert TrainingRun.objects.count() == 0


def test_get_trainer_rejects_non_trainers(ecom_ai_settings):
    ecom_ai_settings(TRAINERS={"x": "tests.ml.toy.ToyModel", "y": "tests.ml.toy.Missing"})
    with pytest.raises(UnknownModelKind, match="not a subclass"):
        get_trainer("x")
    with pytest.raises(UnknownModelKind, match="cannot be imported"):
        get_trainer("y")


def test_progress_reporter_throttles_writes(toy_settings, django_assert_max_num_queries):
    run = TrainingRun.objects.create(kind="toy", status="running")
    progress = ProgressReporter(run, min_interval=3600)
    progress.update(percent=1)  # first write
    with django_assert_max_num_queries(0):
        for i in range(100):
            progress.update(percent=i / 2, loss=1.0 / (i + 1), message="batch")
    with django_assert_max_num_queries(1):
        progress.update(epoch=1, total_epochs=4, loss=0.5, metrics={"auc": 0.7})  # a new epoch is written
    run.refresh_from_db()
    assert run.epoch == 1 and run.percent == 25.0 and run.history == [{"epoch": 1, "loss": 0.5, "auc": 0.7}]
    assert run.heartbeat_at is not None
    ProgressReporter().update(percent=50, epoch=1, loss=float("nan"))  # no run: no writes, no error


def test_trainer_result_must_be_a_train_result(ecom_ai_settings, toy_settings):
    class Bad(ToyTrainer):
        def train(self, params, progress):
            return {"weight": torch.zeros(1)}

    import tests.ml.toy as toy

    toy.Bad = Bad
    try:
        ecom_ai_settings(TRAINERS=trainers(toy="Bad"))
        with pytest.raises(TypeError, match="must return a TrainResult"):
            train_model("toy")
    finally:
        del toy.Bad


def test_load_active_with_a_shared_cache_skips_the_database(
    toy_settings, ecom_ai_settings, settings, django_assert_num_queries
):
    """With Redis as cache, the per-check lookup is a cache read; activation clears the key."""
    import uuid

    from django.core.cache import cache

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_TEST_URL,
            "KEY_PREFIX": f"ml-{uuid.uuid4().hex}",
        }
    }
    try:
        ecom_ai_settings(ACTIVE_MODEL_CHECK_SECONDS=0)
        v1 = train_model("toy", {"score": 0.8})
        first = load_active("toy")
        assert isinstance(first, ToyModel)
        with django_assert_num_queries(0):
            for _ in range(20):
                assert load_active("toy") is first
        v2 = train_model("toy", {"score": 0.9})
        assert load_active("toy") is not first
        assert cache.get("ecom_ai:ml:active:toy")[0] == v2.pk
        assert v1.pk != v2.pk
    finally:
        cache.delete("ecom_ai:ml:active:toy")  # never cache.clear(): that flushes the shared Redis db


def test_cancelled_run_stops_training_and_releases_the_lock(ecom_ai_settings, toy_settings):
    from ecom_ai.ml.registry import TrainingCancelled

    good = train_model("toy")
    ecom_ai_settings(TRAINERS=trainers(toy="CancelledMidwayTrainer"))
    with pytest.raises(TrainingCancelled, match="was stopped"):
        train_model("toy")
    run = TrainingRun.objects.latest("id")
    assert run.status == "failed" and "Cancelled" in run.message
    assert run.version.status == "failed"
    assert active_version("toy") == good
    ecom_ai_settings(TRAINERS=trainers(toy="ToyTrainer"))
    assert train_model("toy").number == 3


def test_cancelled_queued_run_is_never_started(toy_settings):
    from ecom_ai.ml.registry import cancel_run

    run = queue_training_run("toy")
    assert cancel_run(run) is True and run.status == "failed"
    assert cancel_run(run) is False
    with pytest.raises(TrainingLocked, match="not queued"):
        train_model("toy", run=run)
    assert not ModelVersion.objects.exists()
