"""``manage.py ecom_ai_train <kind> [--params JSON] [--nproc N] [--async]``: train a new model version.

``--nproc N`` trains in N processes (``torch.distributed`` data parallel: gloo on CPU, nccl
on GPUs; ``params["nproc"]``). Under ``torchrun`` every process runs this command: rank 0
trains and registers the version, the others only train with it (docs/ml.md).
"""

import json
import os

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ecom_ai.ml.registry import NotEnoughData, TrainingLocked, train_model


def parse_params(raw):
    if not raw:
        return {}
    try:
        params = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--params is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise CommandError("--params must be a JSON object, e.g. '{\"epochs\": 10}'.")
    return params


def describe(version) -> str:
    metrics = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(version.metrics.items())
    )
    return f"{version.kind} v{version.number}: {version.status}" + (f" ({metrics})" if metrics else "")


class Command(BaseCommand):
    help = "Train a new version of one model kind (from ECOM_AI['TRAINERS']), now or on the training queue."

    def add_arguments(self, parser):
        parser.add_argument("kind", help="model kind, a key of ECOM_AI['TRAINERS']")
        parser.add_argument("--params", default="", help="training parameters as a JSON object")
        parser.add_argument(
            "--nproc",
            type=int,
            default=None,
            help="training processes on this machine (torch.distributed; kinds that support it)",
        )
        parser.add_argument(
            "--async",
            dest="run_async",
            action="store_true",
            help="queue the training task (ECOM_AI['TRAINING_QUEUE']) instead of training here",
        )

    def handle(self, kind, params, run_async, nproc=None, **options):
        params = parse_params(params)
        if nproc is not None:
            if nproc < 1:
                raise CommandError(f"--nproc must be at least 1, got {nproc}.")
            params["nproc"] = nproc
        from ecom_ai.ml import distributed

        if distributed.launched_by_torchrun() and distributed.env_rank() > 0:
            return self._torchrun_worker(kind, params)
        try:
            if run_async:
                from ecom_ai.tasks.ml import request_training

                run = request_training(kind, params)
                run.refresh_from_db()
                self.stdout.write(f"Queued {kind} training run #{run.pk} ({run.status}).")
                return
            version = train_model(kind, params)
        except (ImproperlyConfigured, TrainingLocked, NotEnoughData) as exc:
            raise CommandError(str(exc)) from None
        except Exception as exc:
            raise CommandError(f"Training {kind} failed: {type(exc).__name__}: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"Trained {describe(version)}"))
        if version.notes:
            self.stdout.write(version.notes)

    def _torchrun_worker(self, kind, params):
        """A torchrun worker other than rank 0: train along, register nothing."""
        from ecom_ai.ml.registry import ProgressReporter, get_trainer

        try:
            get_trainer(kind).train(params, ProgressReporter(None))
        except Exception as exc:
            raise CommandError(
                f"Training {kind} (worker rank {os.environ.get('RANK')}) failed: {type(exc).__name__}: {exc}"
            ) from None
        self.stdout.write(f"Worker rank {os.environ.get('RANK')} done.")
