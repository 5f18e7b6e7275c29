"""``manage.py ecom_ai_train <kind> [--params JSON] [--async]``: train a new model version."""
import json

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
    metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(version.metrics.items()))
    return f"{version.kind} v{version.number}: {version.status}" + (f" ({metrics})" if metrics else "")


class Command(BaseCommand):
    help = "Train a new version of one model kind (from ECOM_AI['TRAINERS']), now or on the training queue."

    def add_arguments(self, parser):
        parser.add_argument("kind", help="model kind, a key of ECOM_AI['TRAINERS']")
        parser.add_argument("--params", default="", help="training parameters as a JSON object")
        parser.add_argument("--async", dest="run_async", action="store_true",
                            help="queue the training task (ECOM_AI['TRAINING_QUEUE']) instead of training here")

    def handle(self, kind, params, run_async, **options):
        params = parse_params(params)
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
