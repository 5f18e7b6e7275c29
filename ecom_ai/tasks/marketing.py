"""Marketing tasks: a thin shell over ``ecom_ai.marketing.campaigns``.

``ecom_ai.decide_campaign`` decides a campaign for every customer (e-mail / SMS batches); a
host schedules it with Celery beat or sends it from its own code (``dispatch``).
"""

from __future__ import annotations

import logging

from celery import shared_task

from ecom_ai.marketing.campaigns import decide_campaign
from ecom_ai.marketing.service import OfferError, UnknownCampaign

logger = logging.getLogger("ecom_ai.tasks")


@shared_task(name="ecom_ai.decide_campaign")
def decide_campaign_task(slug: str, limit: int | None = None) -> dict:
    """Returns a summary; an unknown campaign or a batch that could not be written is logged and
    reported, never retried here."""
    try:
        result = decide_campaign(slug, limit=limit)
    except UnknownCampaign as exc:
        logger.warning("ecom_ai: %s", exc)
        return {"campaign": slug, "status": "unknown campaign"}
    except OfferError as exc:  # e.g. live decisions kept spending the budget: nothing written, run it again
        logger.warning("ecom_ai: campaign %s: %s", slug, exc)
        return {"campaign": slug, "status": "not written", "reason": str(exc)}
    return {
        "campaign": slug,
        "status": "ok",
        "batch": result.batch,
        "decided": result.decided,
        "offers": result.offers,
        "spent": str(result.spent),
    }
