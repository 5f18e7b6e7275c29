"""``manage.py ecom_ai_sync_catalog [--batch-size N]``: mirror the host catalog into ecom_ai."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create/update ecom_ai's Item mirror from the host's PRODUCT_MODEL (through the adapter) and "
        "deactivate items whose product was deleted. Safe to run any time; prints the counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=500, help="products read and written per batch (default 500)"
        )

    def handle(self, *args, batch_size, **options):
        from ecom_ai.adapters import get_adapter
        from ecom_ai.catalog.sync import sync_catalog

        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            model = get_adapter().product_model
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if model is None:
            raise CommandError("ECOM_AI['PRODUCT_MODEL'] is not set: there is no host catalog to sync.")
        result = sync_catalog(batch_size=batch_size)
        counts = result.as_dict()
        self.stdout.write(" ".join(f"{name}={value}" for name, value in counts.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Catalog synced: {counts['created']} created, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged, {counts['deactivated']} deactivated, {counts['skipped']} skipped."
            )
        )
