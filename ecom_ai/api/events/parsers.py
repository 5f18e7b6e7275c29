"""The events endpoint's parser: the shared safe parser (``ecom_ai.api.parsers``), except that
lone surrogates are left to ``ecom_ai.events.validation``, which names the event and field."""

from ecom_ai.api.parsers import SafeJSONParser


class EventsJSONParser(SafeJSONParser):
    reject_lone_surrogates = False


__all__ = ["EventsJSONParser", "SafeJSONParser"]
