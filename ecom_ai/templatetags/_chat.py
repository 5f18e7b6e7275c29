"""``{% ecom_ai_chat %}``: the customer-service chat bubble (own JS/CSS, no CDN)."""

from django import template
from django.middleware.csrf import get_token
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from ecom_ai.conf import settings as ecom_settings

register = template.Library()

DEFAULT_TITLE = _("Customer service")
DEFAULT_GREETING = _("Hi! Ask me about your order, returns, shipping or our products.")


@register.inclusion_tag("ecom_ai/chat/widget.html", takes_context=True)
def ecom_ai_chat(context, title=DEFAULT_TITLE, greeting=DEFAULT_GREETING):
    """Drop the chat bubble into a page; needs ``request`` in the template context."""
    request = context.get("request")
    try:
        endpoint = reverse("ecom_ai:chat-messages")
    except NoReverseMatch:
        endpoint = ""
    return {
        "endpoint": endpoint,
        "csrf_token": get_token(request) if request is not None else "",
        "title": title,
        "greeting": greeting,
        "poll_seconds": ecom_settings.CHAT_POLL_SECONDS,
        "max_length": ecom_settings.CHAT_MAX_MESSAGE_LENGTH,
    }
