"""``manage.py ecom_ai_train_all [--quick] [--skip-trained]``: train every kind in ECOM_AI['TRAINERS'] now.

Prints one line per finished epoch (the ``ecom_ai.ml.progress`` logger; to this command's output
unless the project's ``LOGGING`` gives that logger handlers of its own) unless ``-v 0``.
``--quick`` trains each kind with its trainer's ``quick_params`` (small models, a few epochs:
what a new shop serves while the full training runs); those versions carry ``"preset": "quick"``
in their parameters. ``--skip-trained`` leaves out kinds that need nothing: with ``--quick``
kinds that have an active version, without it kinds that already have a full (not quick) version.
"""

import logging

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.management.commands.ecom_ai_train import describe
from ecom_ai.ml.registry import NotEnoughData, TrainingLocked, get_trainer, progress_logger, train_model
from ecom_ai.models import ModelVersion

QUICK = "quick"


def is_quick(version) -> bool:
    return (version.params or {}).get("preset") == QUICK


def needs_training(kind: str, quick: bool) -> bool:
    versions = ModelVersion.objects.filter(kind=kind)
    if quick:
        return not versions.filter(status=ModelVersion.Status.ACTIVE).exists()
    trained = versions.filter(
        status__in=(ModelVersion.Status.ACTIVE, ModelVersion.Status.READY, ModelVersion.Status.RETIRED)
    )
    return not any(not is_quick(version) for version in trained.only("params"))


class Command(BaseCommand):
    help = (
        "Train a new version of every model kind in ECOM_AI['TRAINERS'], printing one line per epoch. Kinds "
        "without enough data or already training are reported and skipped; the exit status is non-zero only "
        "when a training failed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--quick",
            action="store_true",
            help="small, fast models (each trainer's quick_params): something to serve at once",
        )
        parser.add_argument(
            "--skip-trained",
            action="store_true",
            help="skip kinds that need nothing: with --quick, kinds with an active version; "
            "without, kinds that already have a full (not quick) version",
        )

    def handle(self, quick=False, skip_trained=False, **options):
        kinds = list(ecom_settings.TRAINERS)
        if not kinds:
            self.stdout.write("No trainers configured (ECOM_AI['TRAINERS'] is empty).")
            return
        handler = self._print_progress(options.get("verbosity", 1))
        try:
            failed = self._train(kinds, quick, skip_trained)
        finally:
            if handler is not None:
                progress_logger.removeHandler(handler)
        if failed:
            raise CommandError(f"Training failed for: {', '.join(failed)}.")

    def _print_progress(self, verbosity):
        if verbosity < 1:
            return None
        if progress_logger.handlers:  # the project's LOGGING prints it already
            return None
        handler = logging.StreamHandler(self.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.setLevel(logging.INFO)
        progress_logger.addHandler(handler)
        if progress_logger.getEffectiveLevel() > logging.INFO:
            progress_logger.setLevel(logging.INFO)
        return handler

    def _train(self, kinds, quick, skip_trained) -> list:
        failed = []
        for kind in kinds:
            if skip_trained and not needs_training(kind, quick):
                self.stdout.write(
                    f"{kind}: skipped, already trained" + (" (an active version)." if quick else " (a full version).")
                )
                continue
            params = {}
            if quick:
                try:
                    quick_params = get_trainer(kind).quick_params
                except Exception as exc:
                    failed.append(kind)
                    self.stderr.write(self.style.ERROR(f"{kind}: {exc}"))
                    continue
                if quick_params is None:
                    self.stdout.write(f"{kind}: no quick version (its fallback serves until a full training).")
                    continue
                params = {**quick_params, "preset": QUICK}
            try:
                version = train_model(kind, params)
            except NotEnoughData as exc:
                self.stdout.write(self.style.WARNING(f"{kind}: skipped, not enough data: {exc}"))
            except TrainingLocked as exc:
                self.stdout.write(self.style.WARNING(f"{kind}: skipped: {exc}"))
            except Exception as exc:
                failed.append(kind)
                self.stderr.write(self.style.ERROR(f"{kind}: failed: {type(exc).__name__}: {exc}"))
            else:
                self.stdout.write(self.style.SUCCESS(f"Trained {describe(version)}"))
                if version.notes:
                    self.stdout.write(f"  {version.notes}")
        return failed
