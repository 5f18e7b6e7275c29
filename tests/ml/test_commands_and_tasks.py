import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from ecom_ai.ml.registry import TrainingLocked, UnknownModelKind, active_version, load_active, train_model
from ecom_ai.models import ModelVersion, TrainingRun
from ecom_ai.tasks.ml import request_training, train_model_task
from tests.ml.toy import FlakyDatabaseTrainer, ToyModel, trainers

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_train_command_with_params(toy_settings):
    output = run("ecom_ai_train", "toy", "--params", json.dumps({"epochs": 2, "score": 0.9}))
    assert "Trained toy v1: active (accuracy=0.9, loss=" in output
    assert ModelVersion.objects.get().params == {"epochs": 2, "score": 0.9}
    output = run("ecom_ai_train", "toy", "--params", '{"score": 0.1}')
    assert "toy v2: ready" in output and "Not activated" in output


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{nope", "--params is not valid JSON"),
        ("[1, 2]", "--params must be a JSON object"),
    ],
)
def test_train_command_rejects_bad_params(toy_settings, raw, message):
    with pytest.raises(CommandError, match=message):
        run("ecom_ai_train", "toy", "--params", raw)
    assert not TrainingRun.objects.exists()


def test_train_command_errors_are_clear(toy_settings, ecom_ai_settings):
    with pytest.raises(CommandError, match="No trainer for model kind 'nope'"):
        run("ecom_ai_train", "nope")
    ecom_ai_settings(TRAINERS=trainers(toy="EmptyTrainer"))
    with pytest.raises(CommandError, match="only 3 orders"):
        run("ecom_ai_train", "toy")
    ecom_ai_settings(TRAINERS=trainers(toy="BrokenTrainer"))
    with pytest.raises(CommandError, match="Training toy failed: RuntimeError: boom"):
        run("ecom_ai_train", "toy")


def test_train_command_async_queues_and_runs_inline_without_broker(toy_settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        output = run("ecom_ai_train", "toy", "--async")
    assert "Queued toy training run #" in output
    run_row = TrainingRun.objects.get()
    assert run_row.status == "succeeded" and run_row.version.status == "active"


def test_train_all_skips_kinds_without_data(toy_settings, ecom_ai_settings):
    ecom_ai_settings(TRAINERS=trainers(toy="ToyTrainer", empty="EmptyTrainer"))
    output = run("ecom_ai_train_all")
    assert "Trained toy v1: active" in output
    assert "empty: skipped, not enough data: only 3 orders, need 40" in output
    assert not ModelVersion.objects.filter(kind="empty").exists()


def test_train_all_reports_failures_with_nonzero_exit(toy_settings, ecom_ai_settings):
    ecom_ai_settings(TRAINERS=trainers(broken="BrokenTrainer", toy="ToyTrainer"))
    with pytest.raises(CommandError, match="Training failed for: broken"):
        run("ecom_ai_train_all")
    assert active_version("toy") is not None  # the other kinds still trained


def test_train_all_without_trainers(ecom_ai_settings):
    ecom_ai_settings(TRAINERS={})
    assert "No trainers configured" in run("ecom_ai_train_all")


def test_models_activate_rollback_commands(toy_settings):
    train_model("toy", {"score": 0.8})
    train_model("toy", {"score": 0.9})
    train_model("toy", {"score": 0.5})
    listing = run("ecom_ai_models")
    lines = listing.splitlines()
    assert lines[0].split()[:5] == ["kind", "version", "status", "primary", "created"]
    assert [line.split()[1:3] for line in lines[1:]] == [["v3", "ready"], ["v2", "active"], ["v1", "retired"]]
    assert "accuracy=0.5" in lines[1]
    assert "is now active" in run("ecom_ai_activate", "toy", "3")
    assert active_version("toy").number == 3
    assert "v2 is active again" in run("ecom_ai_rollback", "toy")
    assert active_version("toy").number == 2
    with pytest.raises(CommandError, match="There is no toy v9"):
        run("ecom_ai_activate", "toy", "9")
    with pytest.raises(CommandError, match="no retired other version"):
        run("ecom_ai_rollback", "other")
    assert "No model versions of kind 'other'" in run("ecom_ai_models", "other")


def test_request_training_queues_then_runs(toy_settings, django_capture_on_commit_callbacks):
    user = get_user_model().objects.create_user("admin", is_staff=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = request_training("toy", {"epochs": 2}, user=user)
        assert queued.status == "queued" and queued.requested_by == user
        with pytest.raises(TrainingLocked):
            request_training("toy")  # the lock is taken at request time
    assert TrainingRun.objects.count() == 1
    for callback in callbacks:
        callback()
    queued.refresh_from_db()
    assert queued.status == "succeeded"
    version = queued.version
    assert version.status == "active" and version.activated_by == user and version.params == {"epochs": 2}
    assert isinstance(load_active("toy"), ToyModel)


def test_request_training_unknown_kind(toy_settings):
    with pytest.raises(UnknownModelKind):
        request_training("nope")
    assert not TrainingRun.objects.exists()


def test_task_reports_lock_and_missing_run_without_raising(toy_settings):
    TrainingRun.objects.create(kind="toy", status="running")
    assert train_model_task.apply(args=("toy",)).get()["status"] == "locked"
    assert train_model_task.apply(args=("toy",), kwargs={"run_id": 999999}).get()["status"] == "skipped"


def test_task_records_trainer_failures_without_raising(toy_settings, ecom_ai_settings):
    ecom_ai_settings(TRAINERS=trainers(toy="BrokenTrainer"))
    result = train_model_task.apply(args=("toy",)).get()
    assert result["status"] == "failed" and "boom" in result["message"]
    ecom_ai_settings(TRAINERS=trainers(toy="EmptyTrainer"))
    assert train_model_task.apply(args=("toy",)).get()["status"] == "not_enough_data"


def test_task_retries_transient_database_errors(toy_settings, ecom_ai_settings):
    ecom_ai_settings(TRAINERS=trainers(toy="FlakyDatabaseTrainer"))
    FlakyDatabaseTrainer.calls = 0
    queued = TrainingRun.objects.create(kind="toy", status="queued")
    result = train_model_task.apply(args=("toy",), kwargs={"run_id": queued.pk}).get()
    assert FlakyDatabaseTrainer.calls == 2
    assert result["status"] == "active" and result["version"] == 2
    queued.refresh_from_db()
    assert queued.status == "failed" and "OperationalError" in queued.message
    assert TrainingRun.objects.filter(status="succeeded").count() == 1
    assert ModelVersion.objects.get(number=1).status == "failed"
