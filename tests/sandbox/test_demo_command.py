"""``manage.py sandbox_demo`` (``make demo``): runserver in front, the full training behind it."""

import signal
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from shop.management.commands import sandbox_demo

pytestmark = pytest.mark.django_db


class FakeProcess:
    started: list = []

    def __init__(self, args, **kwargs):
        self.args, self.kwargs, self.signals, self.returncode = list(args), kwargs, [], None
        FakeProcess.started.append(self)

    def wait(self, timeout=None):
        if "runserver" in self.args:
            self.returncode = 0  # the server ran and stopped
        return self.returncode

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        self.signals.append(sig)
        self.returncode = -sig

    def kill(self):
        self.returncode = -9


@pytest.fixture
def fake_popen(monkeypatch):
    FakeProcess.started = []
    monkeypatch.setattr(sandbox_demo.subprocess, "Popen", FakeProcess)
    return FakeProcess.started


def test_without_a_broker_the_full_training_runs_in_a_second_process(fake_popen):
    out = StringIO()
    call_command("sandbox_demo", "127.0.0.1:8123", stdout=out)
    trainer, server = fake_popen
    assert trainer.args[0] == sys.executable and trainer.args[1].endswith("manage.py")
    assert trainer.args[2:] == ["ecom_ai_train_all", "--skip-trained"]
    assert trainer.kwargs.get("preexec_fn") is not None  # a lower CPU priority than the server
    assert server.args[2:] == ["runserver", "127.0.0.1:8123"]
    assert trainer.signals == [signal.SIGINT]  # stopped with the server: the run records the interruption
    assert "in a background process (no Celery broker configured)" in out.getvalue()


def test_with_a_broker_it_starts_a_worker_and_queues_a_training_per_kind(fake_popen, settings, monkeypatch):
    settings.ECOM_AI = {**settings.ECOM_AI, "TRAINERS": {"toy": "tests.ml.toy.ToyTrainer"}}
    monkeypatch.setattr("ecom_ai.tasks.where_tasks_run", lambda background=False: "celery")
    queued = []
    monkeypatch.setattr(
        "ecom_ai.tasks.ml.request_training", lambda kind, *a, **k: queued.append(kind) or type("Run", (), {"pk": 1})()
    )
    out = StringIO()
    call_command("sandbox_demo", stdout=out)
    worker, server = fake_popen
    assert worker.args[1:5] == ["-m", "celery", "-A", "sandbox"] and "ecom_ai,ecom_ai_training" in worker.args
    assert worker.args[worker.args.index("--pool") + 1] == "solo"  # no forked pool child (torch hangs there)
    assert queued == ["toy"] and "toy: training run #1 queued." in out.getvalue()
    assert server.args[2:] == ["runserver", "127.0.0.1:8000"]


def test_no_training(fake_popen):
    call_command("sandbox_demo", "--no-training", stdout=StringIO())
    assert [p.args[2] for p in fake_popen] == ["runserver"]
