"""``manage.py ecom_ai_setup_placements``: create the default recommendation placements.

home ("Recommended for you"), product ("Customers also bought"), cart ("Complete your
order") and email ("Picked for you"). Existing placements are left as they are, so it is
safe to run on every deploy. (They are also created on first use by a template tag or
the API.)
"""

from django.core.management.base import BaseCommand

from ecom_ai.models import Placement
from ecom_ai.recommend.service import ensure_default_placements


class Command(BaseCommand):
    help = "Create the default recommendation placements (home, product, cart, email) that do not exist yet."

    def handle(self, **options):
        created = ensure_default_placements()
        if created:
            self.stdout.write(self.style.SUCCESS("Created placements: " + ", ".join(p.slug for p in created)))
        else:
            self.stdout.write("All default placements exist already.")
        for placement in Placement.objects.order_by("slug"):
            self.stdout.write(
                f"  {placement.slug:<10} {placement.strategy:<18} fallback {placement.fallback_strategy:<18} "
                f"limit {placement.default_limit}{'' if placement.enabled else '  (disabled)'}"
            )
