"""``manage.py ecom_ai_assess_orders``: assess existing host orders (backfill), oldest first.

Useful after installing ecom_ai on a shop with a history: orders are scored as of their own
time (features only see orders placed before them), so the stored features are valid
training rows once labelled. Orders already assessed are skipped unless ``--rescore``.

``--missing`` is the periodic sweep instead: only the orders placed within
``FRAUD_SWEEP_HOURS`` (``--hours``) that have no assessment (``ecom_ai.fraud.sweep``; the
beat task ``ecom_ai.tasks.fraud.assess_missing_orders`` does the same).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Assess the host shop's existing orders (oldest first); skips orders already assessed."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="at most this many orders")
        parser.add_argument("--rescore", action="store_true", help="also re-score orders already assessed")
        parser.add_argument(
            "--missing",
            action="store_true",
            help="the sweep: assess recent orders (FRAUD_SWEEP_HOURS) that have no assessment",
        )
        parser.add_argument(
            "--hours",
            type=float,
            default=None,
            help="with --missing: look back this many hours (default FRAUD_SWEEP_HOURS)",
        )

    def handle(self, *args, limit=None, rescore=False, missing=False, hours=None, **options):
        if missing:
            return self._sweep(hours, rescore=rescore, limit=limit)
        if hours is not None:
            raise CommandError("--hours goes with --missing.")
        from ecom_ai.adapters import get_adapter
        from ecom_ai.fraud.scoring import assess_facts, facts_for_order
        from ecom_ai.models.fraud import FraudAssessment

        if limit is not None and limit < 1:
            raise CommandError("--limit must be a positive number.")
        adapter = get_adapter()
        model = adapter.order_model
        if model is None:
            raise CommandError("ECOM_AI['ORDER_MODEL'] is not set: there are no host orders to assess.")
        created = adapter.order_lookup("created_at", fallback="pk") or "pk"  # not a column: oldest key first
        done = set() if rescore else set(FraudAssessment.objects.values_list("order_key", flat=True))
        assessed = skipped = failed = 0
        for order in model._default_manager.order_by(created, "pk").iterator(chunk_size=500):
            key = adapter.order_key(order)
            if key in done:
                skipped += 1
                continue
            try:
                facts = facts_for_order(order)
            except Exception as exc:
                failed += 1
                self.stderr.write(f"order {key}: cannot be read through the adapter ({exc}).")
                continue
            result = assess_facts(facts)
            if result is None or result.scorer == "error":
                failed += 1
            else:
                assessed += 1
            if limit and assessed >= limit:
                break
        self.stdout.write(
            self.style.SUCCESS(f"Assessed {assessed} order(s); skipped {skipped} already assessed; {failed} failed.")
        )

    def _sweep(self, hours, *, rescore: bool, limit) -> None:
        from ecom_ai.adapters import get_adapter
        from ecom_ai.fraud.sweep import assess_missing_orders

        if rescore or limit is not None:
            raise CommandError("--missing cannot be combined with --rescore or --limit.")
        if hours is not None and hours <= 0:
            raise CommandError("--hours must be a positive number.")
        if get_adapter().order_model is None:
            raise CommandError("ECOM_AI['ORDER_MODEL'] is not set: there are no host orders to assess.")
        result = assess_missing_orders(hours=hours)
        message = (
            f"Checked {result.checked} recent order(s): {result.missing} had no assessment; "
            f"{result.assessed} scored, {result.errors} stored as errors (review)."
        )
        self.stdout.write(self.style.SUCCESS(message) if not result.errors else self.style.WARNING(message))
