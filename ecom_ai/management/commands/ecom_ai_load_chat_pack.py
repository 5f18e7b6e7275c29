"""``manage.py ecom_ai_load_chat_pack [--articles] [--path FILE]``: load the chat intent pack."""

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.chat.pack import load_pack


class Command(BaseCommand):
    help = (
        "Load the default chat intents (English and Chinese examples) — idempotent: existing intents keep "
        "their edits, missing examples are added. --articles also loads sample knowledge-base articles."
    )

    def add_arguments(self, parser):
        parser.add_argument("--path", help="A pack JSON file of your own (same format as the default pack).")
        parser.add_argument(
            "--articles",
            action="store_true",
            help="Also create the sample knowledge-base articles (skipped when the title exists).",
        )

    def handle(self, *args, path=None, articles=False, **options):
        try:
            result = load_pack(path, articles=articles)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"Could not load the chat pack: {exc}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Chat pack loaded: {result.intents_created} intents, {result.examples_created} examples, "
                f"{result.articles_created} articles created."
            )
        )
