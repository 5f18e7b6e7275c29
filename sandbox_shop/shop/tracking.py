"""Server-side tracking calls of the shop, through ecom_ai's public ``ecom_ai.track``.

Analytics must never break shopping: a failing ``track`` is logged, not raised.
"""

import logging

import ecom_ai

logger = logging.getLogger(__name__)


def track(request, event_type: str, **fields):
    try:
        return ecom_ai.track(event_type, request=request, **fields)
    except Exception:  # noqa: BLE001 - analytics must never break the shop
        logger.exception("ecom_ai.track(%r) failed", event_type)
        return None
