"""The base of ecom_ai's DRF throttles: a rate limit that keeps working when the cache is down.

DRF's ``SimpleRateThrottle`` keeps each client's request history in the Django cache and
raises when the cache cannot be reached (an HTML 500 on every throttled endpoint during a
Redis outage). ``ResilientRateThrottle`` reads and writes the history through
``ecom_ai.resilient_cache`` with a per-process ``LocMemCache`` as fallback: while the shared
cache is unreachable, each process enforces the rate on its own (a client spread over N
processes may get up to N times the rate), a warning is logged once a minute, and the shared
counters are used again as soon as the cache answers.
"""

from __future__ import annotations

from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import SimpleRateThrottle

from ecom_ai.resilient_cache import ResilientCache

#: per-process throttle counters used while the shared cache is unreachable
LOCAL_COUNTERS = LocMemCache("ecom_ai-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 20_000}})


class ResilientRateThrottle(SimpleRateThrottle):
    """``SimpleRateThrottle`` over the default cache, per process while that cache is down."""

    cache = ResilientCache(fallback=LOCAL_COUNTERS)
