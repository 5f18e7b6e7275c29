"""Template tags of the recommend domain (merged into ``{% load ecom_ai %}``).

``{% recommended_products placement="home" limit=8 as products %}``
    The host's own product objects, best first, each with ``ecom_ai_reason``,
    ``ecom_ai_rec_id``, ``ecom_ai_position``, ``ecom_ai_score`` and
    ``ecom_ai_placement`` attributes. Optional ``item=product`` (the page's product or its
    key) and ``exclude=...`` (products or keys). ``products.rec_id`` and
    ``products.title`` give the list's id and the placement's title.
``{% recommendations placement="product" item=product limit=4 %}``
    Renders ``ecom_ai/recommendations.html`` (override it in your templates, or pass
    ``template="shop/my_strip.html"``); its links carry ``data-ecom-ai-click`` and a
    ``data-ecom-ai-context`` with the list id, so the JS collector's click events are
    attributed to the list. Optional ``title="..."`` replaces the placement's title.
``{{ product|ecom_ai_rec_context }}``
    The ``data-ecom-ai-context`` JSON for a recommended product (rec id, placement, position).

Both tags identify the shopper from ``request`` (visitor cookie and logged-in user), or
from ``user=`` (a host user or an ``Identity``: for emails rendered outside a request), and
never break the page: a bad placement or limit, or any error, gives an empty list and a
logged warning.
"""

from __future__ import annotations

import json
import logging

from django import template
from django.template.loader import get_template
from django.utils.html import format_html

from ecom_ai.recommend.service import RecommendationError, RecommendationService

logger = logging.getLogger("ecom_ai.recommend")
register = template.Library()

DEFAULT_TEMPLATE = "ecom_ai/recommendations.html"


class ProductList(list):
    """A list of host products that also knows its recommendation list (``.recommendation``)."""

    recommendation = None

    @property
    def rec_id(self):
        return str(self.recommendation.id) if self.recommendation is not None else ""

    @property
    def title(self):
        return self.recommendation.title if self.recommendation is not None else ""


def _serve(context, placement, item, limit, exclude, tag="recommended_products", user=None):
    request = context.get("request") if user is None else user
    if isinstance(exclude, (str, int)):
        exclude = [exclude]
    try:
        return RecommendationService().recommend(
            request, placement, item=item or None, limit=limit, exclude=list(exclude or ())
        )
    except RecommendationError as exc:
        logger.warning("ecom_ai: {%% %s %%}: %s", tag, exc)
    except Exception:  # noqa: BLE001 - recommendations must never break a page
        logger.exception("ecom_ai: recommendations for placement %r failed", placement)
    return None


@register.simple_tag(takes_context=True)
def recommended_products(context, placement="home", limit=None, item=None, exclude=(), user=None):
    result = _serve(context, placement, item, limit, exclude, user=user)
    products = ProductList(result.products if result is not None else [])
    products.recommendation = result
    return products


@register.simple_tag(takes_context=True)
def recommendations(
    context, placement="product", limit=None, item=None, exclude=(), title=None, template=None, user=None
):
    result = _serve(context, placement, item, limit, exclude, tag="recommendations", user=user)
    if result is None:  # bad arguments or an error (logged): render nothing
        return ""
    products = ProductList(result.products)
    products.recommendation = result
    values = {
        "recommendation": result,
        "products": products,
        "placement": placement,
        "title": title if title is not None else (result.title if result is not None else ""),
        "request": context.get("request"),
    }
    return get_template(template or DEFAULT_TEMPLATE).render(values)


@register.filter
def ecom_ai_rec_context(product) -> str:
    """JSON for ``data-ecom-ai-context`` of a recommended product (escape it in the attribute)."""
    return json.dumps(
        {
            "rec_id": getattr(product, "ecom_ai_rec_id", ""),
            "placement": getattr(product, "ecom_ai_placement", ""),
            "position": getattr(product, "ecom_ai_position", None),
        }
    )


@register.simple_tag
def ecom_ai_rec_attrs(product):
    """``data-ecom-ai-click="<key>" data-ecom-ai-context='{"rec_id": ...}'`` for a recommended product."""
    from ecom_ai.adapters import get_adapter

    return format_html(
        'data-ecom-ai-click="{}" data-ecom-ai-context="{}"',
        get_adapter().item_key(product),
        ecom_ai_rec_context(product),
    )
