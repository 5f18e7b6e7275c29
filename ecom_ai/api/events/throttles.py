"""Throttles of the events endpoint; rates come from ECOM_AI settings (read per request).

They keep working when the cache is down (per-process counters: ``ecom_ai.api.throttling``)."""

from __future__ import annotations

from ecom_ai.api.throttling import ResilientRateThrottle
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.middleware import get_visitor_key
from ecom_ai.models import ChannelKey


class BrowserEventsThrottle(ResilientRateThrottle):
    """``EVENTS_THROTTLE_RATE`` per logged-in user, else per visitor cookie, else per IP."""

    scope = "ecom_ai_events"

    def get_rate(self):
        return ecom_settings.EVENTS_THROTTLE_RATE

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ChannelKey):
            return None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            visitor = get_visitor_key(request)
            ident = f"visitor:{visitor}" if visitor else f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ChannelKeyThrottle(ResilientRateThrottle):
    """``API_KEY_THROTTLE_RATE`` per channel key."""

    scope = "ecom_ai_events_key"

    def get_rate(self):
        return ecom_settings.API_KEY_THROTTLE_RATE

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ChannelKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"key:{request.auth.pk}"}
