"""``{% load ecom_ai %}``: all of ecom_ai's template tags in one library.

Each domain keeps its tags in its own module (``_events``, ``_recommend``, ``_fraud``,
``_chat``); this library merges them so templates load a single name.
"""
from importlib import import_module

from django import template

register = template.Library()

for _name in ("_events", "_recommend", "_fraud", "_chat"):
    try:
        _module = import_module(f"ecom_ai.templatetags.{_name}")
    except ModuleNotFoundError as exc:  # a domain not built yet
        if exc.name != f"ecom_ai.templatetags.{_name}":
            raise
        continue
    register.tags.update(_module.register.tags)
    register.filters.update(_module.register.filters)
