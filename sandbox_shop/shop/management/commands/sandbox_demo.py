"""``manage.py sandbox_demo [addrport]``: serve the demo shop now, train the full models meanwhile.

``make demo`` runs it after seeding and a quick first training (``ecom_ai_train_all --quick``).
It starts two processes and stops both on Ctrl-C:

- the training in the background, one line per epoch on this console: with a Celery broker
  (``REDIS_URL``), a Celery worker on ecom_ai's queues that receives one training task per kind;
  without one, ``ecom_ai_train_all --skip-trained`` in a second process (at a lower CPU priority);
- ``runserver`` in the foreground.

Web processes notice each version the training activates within
``ECOM_AI["ACTIVE_MODEL_CHECK_SECONDS"]`` (``ecom_ai.ml.registry.load_active``): no restart.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Serve the sandbox shop (runserver) while the full model training runs in the background: a Celery "
        "worker when a broker is configured, else a second process; Ctrl-C stops both."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-training", action="store_true", help="serve only, train nothing")

    def handle(self, addrport, no_training=False, **options):
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        children = []
        try:
            if not no_training:
                children.append(self.start_training(manage))
            server = subprocess.Popen([*manage, "runserver", addrport])
            children.append(server)
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop(children)

    def start_training(self, manage):
        from ecom_ai.tasks import where_tasks_run

        lower_priority = (lambda: os.nice(10)) if hasattr(os, "nice") else None
        if where_tasks_run(background=True) == "celery":
            from ecom_ai.conf import settings as ecom_settings

            queues = f"{ecom_settings.TASK_QUEUE},{ecom_settings.TRAINING_QUEUE}"
            self.stdout.write(f"Full training: a Celery worker on {queues}, one training task per model kind.")
            # --pool solo: one task at a time in the worker process itself; a forked pool child of a process
            # that imported torch can hang in its first parallel op (seen here: intent training stuck at start)
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "sandbox",
                    "worker",
                    "-Q",
                    queues,
                    "--pool",
                    "solo",
                    "-l",
                    "INFO",
                ],
                cwd=settings.BASE_DIR,
                preexec_fn=lower_priority,
            )
            self.queue_full_training()
            return worker
        self.stdout.write(
            "Full training: in a background process (no Celery broker configured), one line per "
            "epoch below; the shop serves the quick models meanwhile and picks up each new version."
        )
        return subprocess.Popen([*manage, "ecom_ai_train_all", "--skip-trained"], preexec_fn=lower_priority)

    def queue_full_training(self):
        from ecom_ai.conf import settings as ecom_settings
        from ecom_ai.management.commands.ecom_ai_train_all import needs_training
        from ecom_ai.ml.registry import TrainingLocked
        from ecom_ai.tasks.ml import request_training

        for kind in ecom_settings.TRAINERS:
            if not needs_training(kind, quick=False):
                continue
            try:
                run = request_training(kind)
            except TrainingLocked as exc:
                self.stdout.write(f"{kind}: {exc}")
            else:
                self.stdout.write(f"{kind}: training run #{run.pk} queued.")

    def stop(self, children):
        for child in children:  # SIGINT: a training in progress records on its run that it was stopped
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
