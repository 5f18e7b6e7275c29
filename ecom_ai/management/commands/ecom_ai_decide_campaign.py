"""``manage.py ecom_ai_decide_campaign <campaign> [--csv out.csv] [--limit N]``."""

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.marketing.campaigns import decide_campaign
from ecom_ai.marketing.service import OfferError


class Command(BaseCommand):
    help = (
        "Decide a campaign's offers for every known customer now (e-mail / SMS batches), under its budget; "
        "optionally write the decisions with their coupon codes as CSV."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="The campaign's slug.")
        parser.add_argument("--csv", help="Write this batch's offers (user, offer, code...) to this CSV file.")
        parser.add_argument("--limit", type=int, help="At most this many customers (tests, dry runs).")

    def handle(self, *args, campaign, csv=None, limit=None, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        try:
            result = decide_campaign(campaign, limit=limit, csv_path=csv)
        except OfferError as exc:  # an unknown campaign; a budget that kept changing (nothing written)
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot write {csv}: {exc}") from exc
        if not result.batch:
            self.stdout.write(self.style.WARNING(f"Campaign {campaign!r} is not running: nobody decided."))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Batch {result.batch}: {result.decided} decisions, {result.offers} offers, {result.control} in the "
                f"control group, {result.sticky} already decided, {result.ineligible} not eligible, "
                f"{result.over_budget} left without offer by the budget; spent {result.spent}."
            )
        )
