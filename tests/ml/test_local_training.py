"""Training without a broker: the local background thread (``ecom_ai.tasks.local``), the
per-epoch console lines, and ``ecom_ai_train_all --quick/--skip-trained`` (the demo's path)."""

import io
import logging
import threading

import pytest
from django.core.management import call_command
from django.urls import reverse

from ecom_ai.ml.registry import load_active, progress_logger, train_model
from ecom_ai.models import ModelVersion, TrainingRun
from ecom_ai.tasks import local
from tests.ml.toy import ToyModel, ToyTrainer

pytestmark = pytest.mark.django_db(transaction=True)  # the thread has its own connection

GATE = threading.Event()


class GatedTrainer(ToyTrainer):
    """Trains only once the test opens ``GATE``: proves the request returned before training ended."""

    def train(self, params, progress):
        progress.update(epoch=1, total_epochs=2, loss=1.0)
        assert GATE.wait(30), "the test never opened the gate"
        return super().train(params, progress)


class QuickToyTrainer(ToyTrainer):
    quick_params = {"epochs": 1}


class NoQuickTrainer(ToyTrainer):
    quick_params = None


@pytest.fixture
def gated(ecom_ai_settings, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    ecom_ai_settings(
        TRAINERS={"toy": f"{__name__}.GatedTrainer"}, LOCAL_TRAINING="thread", ACTIVE_MODEL_CHECK_SECONDS=0
    )
    GATE.clear()
    yield
    GATE.set()
    assert local.wait(30)


def test_admin_training_returns_at_once_and_runs_in_a_background_thread(admin_client, gated):
    GATE.set()
    train_model("toy", {"score": 0.5, "epochs": 1})
    GATE.clear()
    old = load_active("toy")
    response = admin_client.post(
        reverse("admin:ecom_ai_modelversion_train"), {"kind": "toy", "params": "{}"}, follow=True
    )
    html = response.content.decode()
    assert "runs in a background thread of this process (no Celery broker is configured)" in html
    run = TrainingRun.objects.latest("id")
    assert run.status in ("queued", "running")  # the request did not wait for the training
    GATE.set()
    assert local.wait(30)
    run.refresh_from_db()
    assert run.status == "succeeded", run.message
    assert run.version.status == "active" and run.version.number == 2
    new = load_active("toy")  # this process picks up the new version without a restart
    assert isinstance(new, ToyModel) and new is not old


def test_the_train_page_says_where_training_runs(admin_client, gated, settings):
    page = admin_client.get(reverse("admin:ecom_ai_modelversion_train")).content.decode()
    assert "background thread of this process" in page
    settings.ECOM_AI = {**settings.ECOM_AI, "LOCAL_TRAINING": "inline"}
    page = admin_client.get(reverse("admin:ecom_ai_modelversion_train")).content.decode()
    assert "inside this request" in page


def test_an_exiting_process_marks_its_unfinished_runs_interrupted(toy_settings):
    run = TrainingRun.objects.create(kind="toy", status="running")
    local._active_runs.add(run.pk)
    try:
        local._interrupt_unfinished()
    finally:
        local._active_runs.discard(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.message.startswith("Interrupted: the process")


def test_one_progress_line_per_epoch(toy_settings, caplog):
    with caplog.at_level(logging.INFO, logger="ecom_ai.ml.progress"):
        version = train_model("toy", {"epochs": 3})
    lines = [r.getMessage() for r in caplog.records if r.name == "ecom_ai.ml.progress"]
    run = TrainingRun.objects.get(version=version)
    assert lines[0] == f"toy run #{run.pk}: training toy v1 on cpu"
    epochs = [line for line in lines if ": epoch " in line]
    assert len(epochs) == 3 and epochs[0].startswith(f"toy run #{run.pk}: epoch 1/3 · loss ")
    assert "accuracy 0.6" in epochs[0] and "elapsed" in epochs[0]
    assert "toy v1 trained and activated." in lines[-1]


def test_train_all_quick_then_full_skipping_what_is_trained(ecom_ai_settings, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(progress_logger, "handlers", [])  # a project without LOGGING for it: the command prints
    settings.MEDIA_ROOT = str(tmp_path)
    ecom_ai_settings(TRAINERS={"toy": f"{__name__}.QuickToyTrainer", "slow": f"{__name__}.NoQuickTrainer"})
    out = io.StringIO()
    call_command("ecom_ai_train_all", "--quick", "--skip-trained", stdout=out)
    text = out.getvalue()
    assert "slow: no quick version" in text and "Trained toy v1: active" in text
    assert "toy run #" in text and "epoch 1/1" in text  # the per-epoch lines, on the command's output
    quick = ModelVersion.objects.get(kind="toy")
    assert quick.params["preset"] == "quick" and quick.params["epochs"] == 1

    out = io.StringIO()
    call_command("ecom_ai_train_all", "--quick", "--skip-trained", stdout=out)
    assert "toy: skipped, already trained (an active version)." in out.getvalue()

    out = io.StringIO()
    call_command("ecom_ai_train_all", "--skip-trained", stdout=out)  # the full training replaces the quick one
    assert "Trained toy v2" in out.getvalue() and "Trained slow v1" in out.getvalue()
    out = io.StringIO()
    call_command("ecom_ai_train_all", "--skip-trained", stdout=out)
    assert "toy: skipped, already trained (a full version)." in out.getvalue()
    assert ModelVersion.objects.filter(kind="toy").count() == 2
