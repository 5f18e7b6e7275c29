"""``manage.py ecom_ai_activate <kind> <number>``: make a model version the active one."""

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.ml.registry import activate
from ecom_ai.models import ModelVersion


class Command(BaseCommand):
    help = "Activate version <number> of model <kind> (the active one is retired)."

    def add_arguments(self, parser):
        parser.add_argument("kind")
        parser.add_argument("number", type=int)

    def handle(self, kind, number, **options):
        version = ModelVersion.objects.filter(kind=kind, number=number).first()
        if version is None:
            raise CommandError(f"There is no {kind} v{number}.")
        try:
            activate(version)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{kind} v{number} is now active."))
