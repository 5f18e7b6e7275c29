"""Export everything ecom_ai stores about one user as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.events.privacy import export_user_data


class Command(BaseCommand):
    help = "Export everything ecom_ai stores about a user (events, identities, ...) as JSON."

    def add_arguments(self, parser):
        parser.add_argument("user_key", help="The user's key (the host user's primary key as text).")
        parser.add_argument("--output", "-o", help="Write to this file instead of standard output.")

    def handle(self, *args, user_key, output=None, **options):
        try:
            data = export_user_data(user_key)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if output:
            try:
                with open(output, "w", encoding="utf-8") as fh:
                    fh.write(text + "\n")
            except OSError as exc:
                raise CommandError(f"cannot write {output}: {exc}") from exc
            sizes = ", ".join(f"{len(v)} {k}" for k, v in data.items() if isinstance(v, list))
            self.stderr.write(f"Wrote {output} ({sizes}).")
        else:
            self.stdout.write(text)
