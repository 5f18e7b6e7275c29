"""Django cache calls that survive the cache server being down.

ecom_ai keeps only *optional* things in the shared cache (throttle counters, a shop median,
version tokens, served lists): a request must be answered when Redis or Memcached is
unreachable. ``ResilientCache`` wraps a Django cache alias with the same method names
(``get``, ``set``, ``add``, ``incr``, ``delete``, ``get_many``, ``set_many``,
``delete_many``) and, when the backend raises a connection-type error (``CACHE_ERRORS``):

- logs one warning per alias per ``LOG_EVERY`` seconds (with the count of failures not
  logged), and one line when the cache answers again;
- returns what a miss would: ``get`` → ``default``, ``get_many`` → ``{}``, ``set`` /
  ``add`` → ``False``, ``incr`` → ``None``; or, when built with a ``fallback`` cache (a
  per-process ``LocMemCache``), carries the call out there instead: the throttles use that
  to keep a per-process limit during an outage (``ecom_ai.api.throttling``);
- skips the server for ``ECOM_AI["CACHE_RETRY_SECONDS"]`` after a failure (so an outage
  costs one refused connection per process every few seconds, not one per call), except
  for deletions, which always try: a deletion is an invalidation and must not be skipped
  once the server is back.

Errors that are not about reaching the server (``ValueError`` from ``incr`` of a missing
key, a ``TypeError`` from a bad key...) are raised as usual. Use the module-level
``cache`` like ``django.core.cache.cache``::

    from ecom_ai.resilient_cache import cache

    median = cache.get(key)          # None during an outage: compute it from the database
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache

logger = logging.getLogger("ecom_ai.cache")

LOG_EVERY = 60.0  # seconds between two warnings about the same unreachable cache


def _connection_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]  # socket errors: refused, reset, timed out, DNS
    try:
        from redis.exceptions import RedisError

        errors.append(RedisError)
    except ImportError:  # pragma: no cover - redis-py not installed
        pass
    try:
        from pymemcache.exceptions import MemcacheError

        errors.append(MemcacheError)
    except ImportError:
        pass
    try:
        from django_redis.exceptions import ConnectionInterrupted

        errors.append(ConnectionInterrupted)
    except ImportError:
        pass
    return tuple(errors)


#: exceptions that mean "the cache server cannot be used right now"
CACHE_ERRORS = _connection_errors()


class _Health:
    """Per alias: since when the server failed, until when to skip it, what was not logged."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_since: float | None = None  # time.time() of the first failure of this outage
        self.skip_until = float("-inf")  # time.monotonic()
        self.logged_at = float("-inf")
        self.suppressed = 0


_health: dict[str, _Health] = {}
_health_lock = threading.Lock()


def _state(alias: str) -> _Health:
    state = _health.get(alias)
    if state is None:
        with _health_lock:
            state = _health.setdefault(alias, _Health())
    return state


def _retry_seconds() -> float:
    from ecom_ai.conf import settings as ecom_settings

    return float(ecom_settings.CACHE_RETRY_SECONDS)


def is_down(alias: str = DEFAULT_CACHE_ALIAS) -> bool:
    """True while the alias's last call failed (until a call succeeds again)."""
    return _state(alias).down_since is not None


def down_since(alias: str = DEFAULT_CACHE_ALIAS) -> float | None:
    """``time.time()`` of the first failure of the current outage, or ``None``."""
    return _state(alias).down_since


def reset(alias: str | None = None) -> None:
    """Forget outages (tests): the next call tries the server at once."""
    with _health_lock:
        if alias is None:
            _health.clear()
        else:
            _health.pop(alias, None)


class ResilientCache:
    """A Django cache alias whose calls never raise because the server is unreachable."""

    def __init__(self, alias: str = DEFAULT_CACHE_ALIAS, *, fallback: BaseCache | None = None):
        self.alias = alias
        self.fallback = fallback

    @property
    def backend(self) -> BaseCache:
        return caches[self.alias]

    # -- the calls ------------------------------------------------------------------------
    def get(self, key, default=None, version=None):
        return self._call("get", (key, default), {"version": version}, default)

    def get_many(self, keys, version=None) -> dict:
        return self._call("get_many", (keys,), {"version": version}, {})

    def set(self, key, value, timeout: Any = ..., version=None) -> bool:
        kwargs: dict[str, Any] = {"version": version}
        if timeout is not ...:
            kwargs["timeout"] = timeout
        result = self._call("set", (key, value), kwargs, _FAILED)
        return result is not _FAILED

    def add(self, key, value, timeout: Any = ..., version=None) -> bool:
        kwargs: dict[str, Any] = {"version": version}
        if timeout is not ...:
            kwargs["timeout"] = timeout
        return bool(self._call("add", (key, value), kwargs, False))

    def set_many(self, data: dict, timeout: Any = ..., version=None) -> list:
        kwargs: dict[str, Any] = {"version": version}
        if timeout is not ...:
            kwargs["timeout"] = timeout
        result = self._call("set_many", (data,), kwargs, _FAILED)
        return list(data) if result is _FAILED else result

    def incr(self, key, delta: int = 1, version=None) -> int | None:
        """The new value; ``None`` when the cache cannot be reached; ``ValueError`` for a missing key."""
        return self._call("incr", (key, delta), {"version": version}, None)

    def delete(self, key, version=None) -> bool:
        return bool(self._call("delete", (key,), {"version": version}, False, always_try=True))

    def delete_many(self, keys, version=None) -> None:
        self._call("delete_many", (keys,), {"version": version}, None, always_try=True)

    # -- plumbing -------------------------------------------------------------------------
    def _call(self, method: str, args: tuple, kwargs: dict, default, *, always_try: bool = False):
        state = _state(self.alias)
        if always_try or time.monotonic() >= state.skip_until:
            try:
                result = getattr(self.backend, method)(*args, **kwargs)
            except CACHE_ERRORS as exc:
                self._failed(state, method, exc)
            else:
                if state.down_since is not None:
                    self._recovered(state)
                return result
        if self.fallback is not None:
            return getattr(self.fallback, method)(*args, **kwargs)
        return default

    def _failed(self, state: _Health, method: str, exc: BaseException) -> None:
        now = time.monotonic()
        with state.lock:
            if state.down_since is None:
                state.down_since = time.time()
            state.skip_until = now + _retry_seconds()
            if now - state.logged_at < LOG_EVERY:
                state.suppressed += 1
                return
            suppressed, state.suppressed, state.logged_at = state.suppressed, 0, now
        logger.warning(
            "ecom_ai: the cache %r cannot be reached (%s on %s: %s); serving without it%s "
            "(%d similar failures not logged since the last message)",
            self.alias,
            type(exc).__name__,
            method,
            str(exc)[:200],
            ", with per-process counters" if self.fallback is not None else "",
            suppressed,
        )

    def _recovered(self, state: _Health) -> None:
        with state.lock:
            if state.down_since is None:
                return
            since, state.down_since, state.skip_until = state.down_since, None, float("-inf")
            state.logged_at, state.suppressed = float("-inf"), 0
        logger.warning("ecom_ai: the cache %r answers again (it failed for %.0f s)", self.alias, time.time() - since)


_FAILED = object()

#: the default cache alias, made resilient: use it like ``django.core.cache.cache``
cache = ResilientCache()
