"""``manage.py ecom_ai_train_all``: train every kind in ECOM_AI['TRAINERS'] now."""
from django.core.management.base import BaseCommand, CommandError

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.management.commands.ecom_ai_train import describe
from ecom_ai.ml.registry import NotEnoughData, TrainingLocked, train_model


class Command(BaseCommand):
    help = ("Train a new version of every model kind in ECOM_AI['TRAINERS']. Kinds without enough data "
            "or already training are reported and skipped; the exit status is non-zero only when a training failed.")

    def handle(self, **options):
        kinds = list(ecom_settings.TRAINERS)
        if not kinds:
            self.stdout.write("No trainers configured (ECOM_AI['TRAINERS'] is empty).")
            return
        failed = []
        for kind in kinds:
            try:
                version = train_model(kind)
            except NotEnoughData as exc:
                self.stdout.write(self.style.WARNING(f"{kind}: skipped, not enough data: {exc}"))
            except TrainingLocked as exc:
                self.stdout.write(self.style.WARNING(f"{kind}: skipped: {exc}"))
            except Exception as exc:
                failed.append(kind)
                self.stderr.write(self.style.ERROR(f"{kind}: failed: {type(exc).__name__}: {exc}"))
            else:
                self.stdout.write(self.style.SUCCESS(f"Trained {describe(version)}"))
        if failed:
            raise CommandError(f"Training failed for: {', '.join(failed)}.")
