"""Trending items: time-decayed popularity from the event log, overall and per category.

``score(item) = Σ weight(event type) × 0.5 ** (age in days / half-life)`` over the events of
the last ``RECOMMEND_TRENDING_WINDOW_DAYS`` days, counted per item, type and age bucket
(at most 28 equal buckets; an event's age is its bucket's middle) by the database in one
aggregate query on the ``(event_type, occurred_at)`` index. Categories come
from the catalog mirror; inactive items are left out. With no events yet, the newest
active, in-stock items of the mirror stand in ("new arrivals"), so a fresh shop still gets
lists; they also fill up the table when few items have events.

The table is computed at most once per ``RECOMMEND_CACHE_SECONDS`` per process and shared
through Django's cache (with Redis, one process computes it for all); it needs no
training, so it works before any model exists.
"""

from __future__ import annotations

from itertools import islice
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.resilient_cache import cache
from ecom_ai.models import Event, Item
from ecom_ai.recommend import facts as facts_cache
from ecom_ai.ttl_cache import TTLCache

#: how many items per category (and overall) the table keeps
TABLE_SIZE = 500
SHARED_CACHE_KEY = "ecom_ai:recommend:trending:v1"


@dataclass
class TrendingTable:
    overall: list[tuple[str, float]] = field(default_factory=list)
    by_category: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    category_of: dict[str, str] = field(default_factory=dict)
    from_events: bool = True  # False: "new arrivals" stand-in (no events yet)
    new_arrivals: set = field(default_factory=set)  # keys in the table without events (fill-ups)

    def top(self, k: int, *, category: str | None = None, exclude=()) -> list[tuple[str, float]]:
        rows = self.by_category.get(category, []) if category else self.overall
        if not isinstance(exclude, (set, frozenset, dict)):
            exclude = set(exclude)
        # stop after k: the tables hold up to TABLE_SIZE rows and this runs on every request
        return list(islice(((key, score) for key, score in rows if key not in exclude), max(k, 0)))


def item_facts(keys) -> dict[str, dict]:
    """``{key: {"category", "in_stock", "is_active", "title"}}`` from the catalog mirror.

    Served from this process's bounded, versioned cache (``ecom_ai.recommend.facts``).
    """
    return facts_cache.item_facts(keys)


#: the window is counted in at most this many equal time buckets (one filtered COUNT each)
MAX_BUCKETS = 28


def compute_trending(now=None) -> TrendingTable:
    now = now or timezone.now()
    weights = {t: float(w) for t, w in ecom_settings.RECOMMEND_EVENT_WEIGHTS.items() if w > 0}
    half_life = float(ecom_settings.RECOMMEND_TRENDING_HALF_LIFE_DAYS)
    window = float(ecom_settings.RECOMMEND_TRENDING_WINDOW_DAYS)
    n_buckets = max(1, min(MAX_BUCKETS, int(window)))
    width = window / n_buckets
    # one GROUP BY (item, type) with a filtered COUNT per age bucket: all of it in SQL
    edges = [now - timedelta(days=width * b) for b in range(n_buckets + 1)]
    buckets = {
        f"b{b}": Count("id", filter=Q(occurred_at__lt=edges[b], occurred_at__gte=edges[b + 1]))
        for b in range(n_buckets)
    }
    rows = (
        Event.objects.filter(event_type__in=list(weights), occurred_at__gte=edges[-1], occurred_at__lt=now)
        .exclude(item_key="")
        .values("item_key", "event_type")
        .annotate(**buckets)
        .order_by()
    )
    decay = [0.5 ** ((b + 0.5) * width / half_life) for b in range(n_buckets)]
    scores: dict[str, float] = {}
    for row in rows.iterator(chunk_size=5000):
        weight = weights.get(row["event_type"], 0.0)
        total = sum(row[f"b{b}"] * decay[b] for b in range(n_buckets))
        if total:
            scores[row["item_key"]] = scores.get(row["item_key"], 0.0) + weight * total
    table = TrendingTable(from_events=bool(scores))
    facts = facts_cache.query_facts(scores)  # the whole scored set, fresh: not through the LRU
    ranked = sorted(
        ((k, s) for k, s in scores.items() if facts.get(k, {}).get("is_active", True)),
        key=lambda pair: (-pair[1], pair[0]),
    )
    if len(ranked) < TABLE_SIZE:  # few events yet: new arrivals fill up, below every scored item
        floor = min((s for _, s in ranked), default=1.0)
        newest = (
            Item.objects.filter(is_active=True, in_stock=True)
            .order_by("-created_at", "key")
            .values("key", "category", "in_stock", "is_active", "title")[:TABLE_SIZE]
        )
        extra = [row for row in newest if row["key"] not in scores][: TABLE_SIZE - len(ranked)]
        facts.update({row["key"]: row for row in extra})
        table.new_arrivals = {row["key"] for row in extra}
        ranked += [(row["key"], floor * 0.5 / (1 + i)) for i, row in enumerate(extra)]
    table.overall = ranked[:TABLE_SIZE]
    for key, score in ranked:
        category = facts.get(key, {}).get("category") or ""
        table.category_of[key] = category
        if category:
            bucket = table.by_category.setdefault(category, [])
            if len(bucket) < TABLE_SIZE:
                bucket.append((key, score))
    return table


_tables = TTLCache("recommend.trending", ttl=lambda: ecom_settings.RECOMMEND_CACHE_SECONDS)


def _shared_or_computed_table() -> TrendingTable:
    table = None
    try:  # another process may have computed it (a shared cache such as Redis)
        table = cache.get(SHARED_CACHE_KEY)
    except Exception:  # noqa: BLE001 - a cache outage only costs a recomputation
        pass
    if not isinstance(table, TrendingTable):
        table = compute_trending()
        try:
            cache.set(SHARED_CACHE_KEY, table, timeout=max(int(ecom_settings.RECOMMEND_CACHE_SECONDS), 1))
        except Exception:  # noqa: BLE001
            pass
    return table


def trending_table() -> TrendingTable:
    """The trending table, recomputed at most every ``RECOMMEND_CACHE_SECONDS`` in this process."""
    return _tables.get_or_set("table", _shared_or_computed_table, single_flight=True)


def clear_trending_cache() -> None:
    _tables.clear()
    try:
        cache.delete(SHARED_CACHE_KEY)
    except Exception:  # noqa: BLE001
        pass


def trending(k: int, *, category: str | None = None, exclude=()) -> list[tuple[str, float]]:
    """The ``k`` most trending items (in ``category`` when given), without ``exclude``."""
    return trending_table().top(k, category=category, exclude=exclude)
