"""``manage.py ecom_ai_rollback <kind>``: re-activate the previously active version."""

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.ml.registry import rollback


class Command(BaseCommand):
    help = "Roll model <kind> back to its most recently retired version."

    def add_arguments(self, parser):
        parser.add_argument("kind")

    def handle(self, kind, **options):
        try:
            version = rollback(kind)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{kind} rolled back: v{version.number} is active again."))
