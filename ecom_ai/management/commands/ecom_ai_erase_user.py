"""Erase everything ecom_ai stores about one user."""

import sys

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.events.privacy import erase_user_data


class Command(BaseCommand):
    help = "Erase everything ecom_ai stores about a user (events, stitched visitors' events, identities, ...)."

    def add_arguments(self, parser):
        parser.add_argument("user_key", help="The user's key (the host user's primary key as text).")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, user_key, yes=False, **options):
        if not user_key.strip():
            raise CommandError("a non-empty user key is required")
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("Refusing to erase without confirmation: pass --yes.")
            answer = input(f"Erase all ecom_ai data of user {user_key!r}? This cannot be undone. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                self.stdout.write("Aborted; nothing erased.")
                return
        counts = erase_user_data(user_key)
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "nothing"
        self.stdout.write(self.style.SUCCESS(f"Erased {summary} for user {user_key!r}."))
