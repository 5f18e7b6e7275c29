"""Delete events older than the retention period (RETENTION_DAYS, or --days)."""

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.retention import purge_old_events


class Command(BaseCommand):
    help = "Delete ecom_ai events older than RETENTION_DAYS (or --days N)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="Delete events older than this many days (default: RETENTION_DAYS)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")

    def handle(self, *args, days=None, dry_run=False, **options):
        if days is not None and days <= 0:
            raise CommandError("--days must be a positive number of days.")
        if days is None and ecom_settings.RETENTION_DAYS is None:
            self.stdout.write("RETENTION_DAYS is None: events are kept forever; nothing deleted.")
            return
        effective = days if days is not None else ecom_settings.RETENTION_DAYS
        count = purge_old_events(days, dry_run=dry_run)
        if dry_run:
            self.stdout.write(f"Would delete {count} events older than {effective} days (dry run).")
        else:
            self.stdout.write(self.style.SUCCESS(f"Deleted {count} events older than {effective} days."))
