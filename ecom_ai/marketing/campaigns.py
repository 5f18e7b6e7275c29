"""``decide_campaign(slug)``: the batch decision of one campaign for every known customer.

What the management command ``ecom_ai_decide_campaign`` and the Celery task
``ecom_ai.decide_campaign`` call: customers' states from the event log
(``batch.load_states``), then ``batch.decide_batch`` under the budget; optionally the
decisions with codes written as CSV.
"""

from __future__ import annotations

from ecom_ai.marketing.batch import decide_batch, export_csv, load_states
from ecom_ai.marketing.service import get_campaign


def decide_campaign(campaign, *, limit: int | None = None, csv_path: str | None = None, rng=None):
    """Decide ``campaign`` (slug, pk or object) for every customer; returns the ``BatchResult``.

    ``UnknownCampaign`` for an unknown slug; a campaign that is not running decides nobody.
    """
    campaign = get_campaign(campaign)
    from ecom_ai.models.marketing import Campaign

    campaign = Campaign.objects.get(pk=campaign.pk)  # fresh: not the per-process cache
    if not campaign.is_running():
        from ecom_ai.marketing.batch import BatchResult

        return BatchResult(batch="")
    result = decide_batch(campaign, load_states(campaign, limit=limit), rng=rng)
    if csv_path:
        with open(csv_path, "w", newline="", encoding="utf-8") as handle:
            export_csv(campaign, handle, batch=result.batch)
    return result
