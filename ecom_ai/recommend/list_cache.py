"""Served lists kept per process until the shopper's next event.

A shopper who opens the home page again, goes back to the cart or reloads gets the same
list as a moment ago unless something changed: their events, the model, the placement's
rules, the catalog facts. Computing it again costs the model's forward pass, the
candidates and the rules (most of a served list's CPU), so each web process keeps the
lists it served in a bounded LRU, keyed by everything that decides the list:

- the shopper's **history tokens** from ``ecom_ai.recommend.history_cache`` (read on every
  request anyway; any new event of the shopper, in any process, changes them), so a list
  is never reused after the shopper did something — the real-time reaction is unchanged;
- the placement's configuration as this process loaded it, the experiment variant, the
  model version serving it, the item facts' generation (stock, activity, titles), the page
  item, the limit, the extra exclusions and the channel;
- and an age of at most ``RECOMMEND_LIST_CACHE_SECONDS`` (trending tables and
  co-occurrence refreshes are seen within that).

Each reuse is still a new list: a new recommendation id, its own stored row and
impression, attribution as usual. Only works with the shared history cache (the tokens);
``RECOMMEND_LIST_CACHE_SECONDS = 0`` turns it off.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, NamedTuple

from ecom_ai.conf import settings as ecom_settings


class CachedList(NamedTuple):
    items: list
    strategy: str
    used: tuple
    facts: dict


class ListCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[tuple, float, CachedList]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple, tokens: tuple) -> CachedList | None:
        ttl = float(ecom_settings.RECOMMEND_LIST_CACHE_SECONDS)
        if ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != tokens or time.monotonic() - entry[1] >= ttl:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[2]

    def put(self, key: tuple, tokens: tuple, value: CachedList) -> None:
        if float(ecom_settings.RECOMMEND_LIST_CACHE_SECONDS) <= 0:
            return
        size = int(ecom_settings.RECOMMEND_LIST_CACHE_SIZE)
        with self._lock:
            self._entries[key] = (tokens, time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self):
        return len(self._entries)


_cache = ListCache()


def get(key: tuple, tokens: tuple) -> CachedList | None:
    return _cache.get(key, tokens)


def put(key: tuple, tokens: tuple, value: CachedList) -> None:
    _cache.put(key, tokens, value)


def clear() -> None:
    _cache.clear()


def stats() -> dict[str, Any]:
    return {"entries": len(_cache), "hits": _cache.hits, "misses": _cache.misses}
