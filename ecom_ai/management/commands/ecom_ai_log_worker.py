"""Store the served lists waiting in the Redis queue (RECOMMEND_LOG_MODE = "queue")."""

import signal

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.conf import settings as ecom_settings


class Command(BaseCommand):
    help = (
        "Store the served recommendation lists and impressions waiting in the queue "
        "(RECOMMEND_LOG_MODE = 'queue'); runs until stopped, or --once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Store what waits now, then exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between looks at an empty queue (default: RECOMMEND_LOG_FLUSH_SECONDS).",
        )

    def handle(self, *args, once=False, interval=None, **options):
        from ecom_ai.recommend import log_queue

        if not ecom_settings.RECOMMEND_LOG_QUEUE_URL:
            raise CommandError(
                "ECOM_AI['RECOMMEND_LOG_QUEUE_URL'] is not set: there is no queue to read (see docs/settings.md)."
            )
        if interval is not None and not 0 < interval <= 60:
            raise CommandError("--interval must be more than 0 and at most 60 seconds.")
        stopping = []
        if not once:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *a: stopping.append(True))  # finish the batch, then stop
            self.stdout.write(
                f"Storing served lists from {ecom_settings.RECOMMEND_LOG_QUEUE_URL} "
                f"({log_queue.waiting()} waiting); stop with Ctrl-C or SIGTERM."
            )
        stored = log_queue.run_worker(interval=interval, stop=lambda: bool(stopping), once=once)
        self.stdout.write(self.style.SUCCESS(f"Stored {stored} served lists; {log_queue.waiting()} waiting."))
