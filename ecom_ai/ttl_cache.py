"""One small per-process cache of computed values, with a time limit and signal-driven clearing.

Serving keeps a few things in memory per process (fraud rules and lists, trending tables,
live co-occurrence answers, item facts...): each is a ``TTLCache``::

    _config = TTLCache("fraud.config", ttl=5.0,
                       clear_on=[(post_save, FraudRule), (post_delete, FraudRule)])

    def active_rules():
        return _config.get_or_set("rules", load_rules)

- ``ttl``: seconds a value is served, a number or a callable read on every lookup (so a
  setting such as ``lambda: ecom_settings.RECOMMEND_CACHE_SECONDS`` follows
  ``override_settings``); ``0`` or less turns the cache off (every lookup loads).
- ``maxsize``: most entries kept (least recently used dropped first), a number or a callable;
  ``None`` for no bound.
- ``clear_on``: signals that drop every entry: a signal, or ``(signal, sender)``. A change of
  the ``ECOM_AI`` setting (``override_settings`` in tests) clears every cache too.
- A load that raced with a clear is returned to its caller but not stored (``generation``),
  so an invalidation is never undone by a read that started before it.
- ``get_or_set(..., single_flight=True)`` lets one thread load a missing value while the
  others wait for it (for expensive values such as the trending table).

Other processes are not told: a change made elsewhere is seen within ``ttl``. Caches that
must react sooner combine this with a shared version counter (``recommend.facts``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from django.core.signals import setting_changed

_MISSING = object()
_caches: weakref.WeakSet[TTLCache] = weakref.WeakSet()


def _number(value) -> float | None:
    return value() if callable(value) else value


class TTLCache:
    """Values kept in this process for at most ``ttl`` seconds (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        ttl: float | Callable[[], float],
        maxsize: int | Callable[[], int] | None = None,
        clear_on: Iterable = (),
    ):
        self.name = name
        self._ttl = ttl
        self._maxsize = maxsize
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.generation = 0  # moves on every clear
        self.hits = self.misses = 0
        for item in clear_on:
            signal, sender = item if isinstance(item, tuple) else (item, None)
            signal.connect(
                self.clear,
                sender=sender,
                weak=False,
                dispatch_uid=f"ecom_ai.ttl_cache.{name}.{id(signal)}.{getattr(sender, '__name__', sender)}",
            )
        _caches.add(self)

    @property
    def ttl(self) -> float:
        return float(_number(self._ttl) or 0)

    # -- reads ------------------------------------------------------------------------------
    def get(self, key: Hashable, default=None):
        """The fresh value of ``key``, or ``default`` (``get_many`` of one key, without its lists:
        serving asks this on every request)."""
        ttl = self.ttl
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or ttl <= 0 or now - entry[0] >= ttl:
                self.misses += 1
                return default
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def get_many(self, keys: Iterable[Hashable]) -> tuple[dict, list]:
        """``(fresh values by key, keys missing or stale)`` under one lock."""
        ttl = self.ttl
        now = time.monotonic()
        found: dict = {}
        missing: list = []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None or ttl <= 0 or now - entry[0] >= ttl:
                    missing.append(key)
                    continue
                self._entries.move_to_end(key)
                found[key] = entry[1]
            self.hits += len(found)
            self.misses += len(missing)
        return found, missing

    def get_or_set(self, key: Hashable, loader: Callable[[], Any], *, single_flight: bool = False):
        """The fresh value of ``key``, else ``loader()`` (stored unless the cache was cleared meanwhile)."""
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value
        if not single_flight:
            generation = self.generation
            value = loader()
            self.set(key, value, generation=generation)
            return value
        with self._load_lock:
            value = self.get(key, _MISSING)
            if value is _MISSING:
                generation = self.generation
                value = loader()
                self.set(key, value, generation=generation)
            return value

    # -- writes -----------------------------------------------------------------------------
    def set(self, key: Hashable, value, *, generation: int | None = None) -> None:
        """Store ``value``; with ``generation`` (read before loading), only if no clear happened since."""
        self.set_many({key: value}, generation=generation)

    def set_many(self, values: dict, *, generation: int | None = None) -> None:
        if self.ttl <= 0:
            return
        now = time.monotonic()
        maxsize = _number(self._maxsize)
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            for key, value in values.items():
                self._entries[key] = (now, value)
                self._entries.move_to_end(key)
            if maxsize is not None:
                while len(self._entries) > maxsize:
                    self._entries.popitem(last=False)

    def clear(self, *args, **kwargs) -> None:
        """Drop every entry (a signal receiver: any arguments are ignored)."""
        with self._lock:
            self._entries.clear()
            self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<TTLCache {self.name}: {len(self)} entries>"


def clear_all() -> None:
    """Clear every ``TTLCache`` of this process."""
    for cache in list(_caches):
        cache.clear()


def _on_setting_changed(*, setting, **kwargs):
    if setting == "ECOM_AI":
        clear_all()


setting_changed.connect(_on_setting_changed)
