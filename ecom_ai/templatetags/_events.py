"""Template tags of the events domain (merged into ``{% load ecom_ai %}``).

``{% ecom_ai_tracker %}``
    The JavaScript collector: its configuration and ``<script>`` tag. Put it once near the
    end of the base template's ``<body>``.
``{% ecom_ai_item_attrs product %}`` / ``{% ecom_ai_item_attrs product "view" %}`` / ``"click"``
    ``data-ecom-ai-item|view|click="<item key>"`` for an element: ``view`` makes the
    collector send a view of that item when the page loads, ``click`` a click when it is
    clicked; ``item`` only names the item for clicks inside it.
"""

from __future__ import annotations

from django import template
from django.middleware.csrf import get_token
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html

from ecom_ai.adapters import get_adapter

register = template.Library()

FALLBACK_ENDPOINT = "/ecom-ai/api/v1/events/"
ATTRIBUTE_KINDS = ("item", "view", "click")


def events_endpoint() -> str:
    try:
        return reverse("ecom_ai:events")
    except NoReverseMatch:
        return FALLBACK_ENDPOINT


@register.inclusion_tag("ecom_ai/tracker.html", takes_context=True)
def ecom_ai_tracker(context, channel="web", batch_size=20, flush_interval=5000, page_view=True, debug=False):
    request = context.get("request")
    config = {
        "endpoint": events_endpoint(),
        "channel": channel,
        "batchSize": int(batch_size),
        "flushInterval": int(flush_interval),
        # the token for the X-CSRFToken header (also works when the CSRF cookie is HttpOnly)
        "csrfToken": get_token(request) if request is not None else "",
        # lets the collector correct a wrong local clock (the server rejects future times)
        "serverTime": timezone.now().isoformat(),
        "autoPageView": bool(page_view),
        "debug": bool(debug),
    }
    return {"ecom_ai_config": config}


@register.simple_tag
def ecom_ai_item_attrs(product, kind="item"):
    """``data-ecom-ai-<kind>="<item key>"`` for a host product (or a key given as a string)."""
    if kind not in ATTRIBUTE_KINDS:
        raise template.TemplateSyntaxError(
            f"ecom_ai_item_attrs: kind must be one of {', '.join(ATTRIBUTE_KINDS)}, got {kind!r}"
        )
    if product is None or product == "":
        return ""
    key = product if isinstance(product, (str, int)) else get_adapter().item_key(product)
    return format_html('data-ecom-ai-{}="{}"', kind, key)
