"""``{% load ecom_ai %}``: all of ecom_ai's template tags in one library.

Each domain keeps its tags in its own module (``_events``, ``_recommend``, ``_fraud``,
``_chat``, ``_marketing``); this library merges them so templates load a single name.
"""

from django import template

from ecom_ai.templatetags import _chat, _events, _fraud, _marketing, _recommend

register = template.Library()

for _module in (_events, _recommend, _fraud, _chat, _marketing):
    register.tags.update(_module.register.tags)
    register.filters.update(_module.register.filters)
