"""``{% fraud_badge order %}``: the fraud level of an order, for staff pages only.

``order`` is a host order (its key is read through the adapter), an order key, or a
``FraudAssessment``. Non-staff users (and anonymous ones) get an empty string, so the tag
is safe in templates shoppers might see.
"""

from __future__ import annotations

import logging

from django import template
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

register = template.Library()
logger = logging.getLogger("ecom_ai.fraud")


def _assessment_for(order):
    from ecom_ai.models.fraud import FraudAssessment

    if order is None or order == "":
        return None
    if isinstance(order, FraudAssessment):
        return order
    if isinstance(order, (str, int)):
        key = str(order)
    else:
        from ecom_ai.adapters import get_adapter

        key = get_adapter().order_key(order)
    return (
        FraudAssessment.objects.filter(order_key=key)
        .only("pk", "order_key", "order_number", "score", "level", "status", "recommended_action", "reasons")
        .first()
    )


@register.simple_tag(takes_context=True)
def fraud_badge(context, order):
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if not (user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False)):
        return ""
    try:
        assessment = _assessment_for(order)
    except Exception:  # a badge must never break a staff page
        logger.warning("ecom_ai: fraud badge could not be rendered", exc_info=True)
        return ""
    url = ""
    if assessment is not None:
        try:
            url = reverse("admin:ecom_ai_fraudassessment_change", args=[assessment.pk])
        except NoReverseMatch:
            url = ""
    reasons = (
        [r.get("message", "") for r in (assessment.reasons or []) if isinstance(r, dict)][:3] if assessment else []
    )
    return render_to_string(
        "ecom_ai/fraud/badge.html", {"assessment": assessment, "url": url, "title": "; ".join(reasons)}
    )
