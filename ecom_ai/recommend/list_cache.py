"""Served lists kept in the shared cache until the shopper's next event.

A shopper who opens the home page again, goes back to the cart or reloads gets the same
list as a moment ago unless something changed: their events, the model, the placement's
rules, the catalog facts. Computing it again costs the model's forward pass, the
candidates and the rules (most of a served list's CPU), so a computed list is kept in
Django's cache (the shared one the history cache uses: Redis, Memcached...), under a key
made of everything that decides the list:

- the placement's configuration (a fingerprint of the placement, its rules, its running
  experiment and variants, as the serving process loaded them), the experiment variant,
  the versions of the recommender and co-occurrence models serving it, the item facts'
  shared version (stock, activity, titles), the page item, the limit, the extra
  exclusions, the shopper and the channel;
- and stored with the shopper's **history tokens** (``ecom_ai.recommend.history_cache``):
  it is used only while they are unchanged, so a list is never reused after the shopper
  did something (any new event, in any process, changes them) — the real-time reaction
  is unchanged;
- for at most ``RECOMMEND_LIST_CACHE_SECONDS`` (trending tables and co-occurrence
  refreshes are seen within that).

The entry is read in the same round trip as the shopper's tokens and history, so a reuse
costs no extra request to the cache, and every web process (and worker) shares it. Each
reuse is still a new list: a new recommendation id, its own stored row and impression,
attribution as usual. ``RECOMMEND_LIST_CACHE_SECONDS = 0`` turns it off.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, NamedTuple


from ecom_ai.conf import settings as ecom_settings
from ecom_ai.resilient_cache import cache
from ecom_ai.recommend.history_cache import warn_unavailable, whole_seconds

PREFIX = "ecom_ai:rec:list:"
_FORMAT = 1  # bumped when the cached value's layout changes (old entries are then ignored)


class CachedList(NamedTuple):
    items: list
    strategy: str
    used: tuple
    facts: dict


class _Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.hits = self.misses = 0


_counters = _Counters()


def enabled() -> bool:
    return float(ecom_settings.RECOMMEND_LIST_CACHE_SECONDS) > 0


def make_key(parts: tuple) -> str:
    """The cache key of a list decided by ``parts`` (a tuple of plain values)."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{PREFIX}{_FORMAT}:{digest}"


def lookup(entry, tokens: tuple) -> CachedList | None:
    """The list in a cache ``entry`` (as read with the tokens) if stored under ``tokens``."""
    hit = isinstance(entry, tuple) and len(entry) == 2 and entry[0] == tokens and isinstance(entry[1], CachedList)
    with _counters.lock:
        if hit:
            _counters.hits += 1
        else:
            _counters.misses += 1
    return entry[1] if hit else None


def put(key: str, tokens: tuple, value: CachedList) -> None:
    """Keep a computed list under the tokens it was computed with. Never raises."""
    if not enabled():
        return
    try:
        cache.set(key, (tokens, value), timeout=whole_seconds(ecom_settings.RECOMMEND_LIST_CACHE_SECONDS))
    except Exception:  # noqa: BLE001 - the cache only saves work
        warn_unavailable("could not keep a served list in the cache")


def stats() -> dict[str, Any]:
    """This process's reuse counters (they only grow)."""
    return {"hits": _counters.hits, "misses": _counters.misses}
