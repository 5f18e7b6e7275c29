"""Item facts for serving (title, category, in stock, active), cached per process.

Every served list needs the catalog-mirror facts of its candidates (the rules exclude
out-of-stock and inactive items, cap categories, and the reasons name titles). Reading
them from the database per request cost two queries and a large share of a request (see
docs/benchmarks.md, Serving); they change rarely, so each process keeps them in a bounded
LRU (a ``TTLCache``):

- at most ``RECOMMEND_ITEM_FACTS_CACHE_SIZE`` keys (least recently used dropped first), so
  a catalog of a million items never fills a web process's memory; keys the mirror does
  not know are remembered too (as "unknown"), so they do not cost a query per request;
- each entry lives at most ``RECOMMEND_ITEM_FACTS_CACHE_SECONDS`` (``0`` turns the cache off);
- a **version counter** in Django's cache (``ecom_ai:recommend:item_facts:version``) is
  bumped whenever the catalog mirror is written (the ``item_synced`` signal, which the
  catalog sync sends for every write, and ``post_save`` / ``post_delete`` of ``Item``),
  once at once and once more when the transaction commits. The process that wrote drops
  its cache at once; every process compares the counter at most once per
  ``VERSION_CHECK_SECONDS`` and drops everything when it moved.

Staleness bound: with a shared cache (Redis, Memcached) another process serves an item's
old facts (e.g. an item that just went out of stock) for at most ``VERSION_CHECK_SECONDS``
(1 s) after the mirror's transaction commits; with a per-process cache (LocMem, the
default of a bare Django project) other processes cannot see the counter and the bound is
``RECOMMEND_ITEM_FACTS_CACHE_SECONDS``. Writes that bypass both the sync code and model
signals (``Item.objects.filter(...).update(...)`` by hand) are only seen after the TTL;
call :func:`bump_version` after such writes.
"""

from __future__ import annotations

import logging
import secrets
import time

from django.db import transaction

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.resilient_cache import cache
from ecom_ai.ttl_cache import TTLCache

logger = logging.getLogger("ecom_ai.recommend")

VERSION_KEY = "ecom_ai:recommend:item_facts:version"
#: how often (seconds) a process compares its cache with the shared version counter
VERSION_CHECK_SECONDS = 1.0
#: the columns item_facts returns
FIELDS = ("key", "category", "in_stock", "is_active", "title")
_CHUNK = 900  # keys per IN (...) query, under SQLite's variable limit
_UNKNOWN = None  # cached value for a key the mirror does not have


def query_facts(keys) -> dict[str, dict]:
    """``{key: {"key", "category", "in_stock", "is_active", "title"}}`` straight from the mirror."""
    from ecom_ai.models import Item

    keys = [k for k in dict.fromkeys(keys) if k]
    facts: dict[str, dict] = {}
    for start in range(0, len(keys), _CHUNK):
        for row in Item.objects.filter(key__in=keys[start : start + _CHUNK]).values(*FIELDS):
            facts[row["key"]] = row
    return facts


class FactsCache:
    """A bounded LRU of item facts with a TTL (a ``TTLCache``) and a shared version counter (see the module doc)."""

    def __init__(self):
        self._items = TTLCache(
            "recommend.item_facts",
            ttl=lambda: ecom_settings.RECOMMEND_ITEM_FACTS_CACHE_SECONDS,
            maxsize=lambda: ecom_settings.RECOMMEND_ITEM_FACTS_CACHE_SIZE,
        )
        self._version = None
        self._checked_at = float("-inf")

    @property
    def hits(self) -> int:
        return self._items.hits

    @property
    def misses(self) -> int:
        return self._items.misses

    @property
    def _entries(self):
        return self._items._entries

    # -- invalidation ---------------------------------------------------------------------
    def clear(self) -> None:
        self._items.clear()
        self._checked_at = float("-inf")

    def _check_version(self, now: float) -> None:
        if now - self._checked_at < VERSION_CHECK_SECONDS:
            return
        try:
            version = cache.get(VERSION_KEY)
        except Exception:  # noqa: BLE001 - a cache outage: keep serving, the TTL still bounds staleness
            version = self._version
        if version != self._version:
            self._items.clear()
            self._version = version
        self._checked_at = now

    # -- reads ----------------------------------------------------------------------------
    def get_many(self, keys) -> dict[str, dict]:
        keys = [k for k in dict.fromkeys(keys) if k]
        if not keys:
            return {}
        if self._items.ttl <= 0:
            return query_facts(keys)
        self._check_version(time.monotonic())
        cached, missing = self._items.get_many(keys)
        facts = {key: value for key, value in cached.items() if value is not _UNKNOWN}
        if not missing:
            return facts
        generation = self._items.generation  # a drop while we read: the rows read are not stored
        found = query_facts(missing)
        facts.update(found)
        self._items.set_many({key: found.get(key, _UNKNOWN) for key in missing}, generation=generation)
        return facts

    def __len__(self):
        return len(self._items)


_cache = FactsCache()


def item_facts(keys) -> dict[str, dict]:
    """Facts of ``keys`` (unknown keys left out), from this process's cache or the mirror."""
    return _cache.get_many(keys)


def shared_version():
    """The catalog version every process sees (the shared counter, read at most once per
    ``VERSION_CHECK_SECONDS``): it moves on every catalog change, so lists built on older
    facts are not reused."""
    _cache._check_version(time.monotonic())
    return _cache._version


def clear_cache() -> None:
    """Drop this process's facts (other processes follow :func:`bump_version`)."""
    _cache.clear()


def _bump_shared() -> None:
    try:
        try:
            cache.incr(VERSION_KEY)
        except ValueError:  # not set yet (or evicted): a random start, unlike any value seen before
            cache.set(VERSION_KEY, secrets.randbits(48), timeout=None)
    except Exception:  # noqa: BLE001 - a cache outage: other processes fall back on the TTL
        logger.warning(
            "ecom_ai: could not bump the item facts version; other processes see changes "
            "within RECOMMEND_ITEM_FACTS_CACHE_SECONDS",
            exc_info=True,
        )


def bump_version(*args, **kwargs) -> None:
    """The catalog mirror changed: drop this process's facts and tell the other processes.

    Bumps the shared counter now (processes drop their cache within a second) and again
    when the current transaction commits (so a process that re-read the old rows between
    the first bump and the commit drops them too). Usable as a signal receiver.
    """
    _cache.clear()
    _bump_shared()

    def after_commit():
        _cache.clear()
        _bump_shared()

    try:
        transaction.on_commit(after_commit)
    except Exception:  # noqa: BLE001 - e.g. no database configured
        pass


def stats() -> dict:
    return {"entries": len(_cache), "hits": _cache.hits, "misses": _cache.misses}
