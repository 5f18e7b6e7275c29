"""Item-to-item co-occurrence: "customers who bought X also bought" / "who viewed X also viewed".

Two relations are learned from the event log, per shopper (the user key when known, else
the visitor key):

* ``bought``: items the same shopper purchased (``purchase`` events);
* ``viewed``: items the same shopper viewed, clicked, added to the cart, favourited or bought.

Score of a pair = cosine of the two items' shopper sets, shrunk for small counts
(``c / sqrt(n_i n_j) × c / (c + 2)``); each item keeps its ``RECOMMEND_COOCCURRENCE_NEIGHBORS``
best neighbours.

**Why a registry kind ("cooccurrence") rather than a table computed in the web process:**
the full table is a sparse matrix product over the whole window of events, too slow for a
request and wasteful to repeat in every web process. As a model kind it is trained by
the same Celery task/command as the other models (``ecom_ai_train_all``, ``train_model``),
versioned and gated (held-out HR@10), visible in the admin with activate/rollback, stored
as an artifact, and picked up by every web process without a restart (``load_active``).
Until a version exists, ``live_neighbors`` answers one item at a time straight from the
event log (two indexed queries, cached per process), so "also bought" works on a fresh
shop before anything is trained.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import torch
from django.db.models import Q
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.ml.registry import NotEnoughData, TrainResult, Trainer
from ecom_ai.models import Event
from ecom_ai.ttl_cache import TTLCache

RELATIONS = {
    "bought": ("purchase",),
    "viewed": ("view", "click", "add_to_cart", "favorite", "purchase"),
}
PAYLOAD_FORMAT = 1
SHRINK = 2.0


def _person(user_key: str, visitor_key: str) -> str:
    return f"u:{user_key}" if user_key else f"v:{visitor_key}"


class CooccurrenceModel:
    """Servable co-occurrence table: ``neighbors(key, relation, k)`` and ``related(...)``."""

    def __init__(self, item_keys: list[str], relations: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]):
        self.item_keys = list(item_keys)
        self.index = {key: i for i, key in enumerate(self.item_keys)}
        self.relations = relations  # name -> (indptr, indices, scores), rows sorted by score desc

    def __len__(self):
        return len(self.item_keys)

    def neighbors(self, item_key: str, relation: str = "bought", k: int = 10, exclude=()) -> list[tuple[str, float]]:
        row = self.index.get(item_key)
        if row is None or relation not in self.relations:
            return []
        indptr, indices, scores = self.relations[relation]
        out = []
        for j, score in zip(indices[indptr[row] : indptr[row + 1]], scores[indptr[row] : indptr[row + 1]]):
            key = self.item_keys[j]
            if key not in exclude:
                out.append((key, float(score)))
                if len(out) >= k:
                    break
        return out

    def related(self, anchors: dict[str, float], relation: str, k: int, exclude=()) -> list[tuple[str, float, str]]:
        """Items related to weighted ``anchors``: ``(key, score, the anchor contributing most)``."""
        exclude = set(exclude) | set(anchors)
        total: dict[str, float] = {}
        best: dict[str, tuple[float, str]] = {}
        for anchor, weight in anchors.items():
            for key, score in self.neighbors(anchor, relation, k=max(k, 20), exclude=exclude):
                total[key] = total.get(key, 0.0) + weight * score
                if weight * score > best.get(key, (0.0, ""))[0]:
                    best[key] = (weight * score, anchor)
        ranked = sorted(total.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
        return [(key, score, best[key][1]) for key, score in ranked]


# --------------------------------------------------------------------------- building


def build_relation(baskets: list[list[int]], n_items: int, top_k: int):
    """Top-k neighbour lists (CSR arrays) from shopper baskets of item indices."""
    from scipy import sparse

    rows, cols = [], []
    for person, items in enumerate(baskets):
        for item in set(items):
            rows.append(person)
            cols.append(item)
    if not rows:
        empty = np.zeros(n_items + 1, dtype=np.int64)
        return empty, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(baskets), n_items))
    counts = np.asarray(x.sum(axis=0)).ravel()
    co = (x.T @ x).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    indptr = [0]
    indices: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for i in range(n_items):
        start, end = co.indptr[i], co.indptr[i + 1]
        if start == end:
            indptr.append(indptr[-1])
            continue
        js = co.indices[start:end]
        c = co.data[start:end]
        s = c / np.sqrt(counts[i] * counts[js]) * (c / (c + SHRINK))
        if len(s) > top_k:
            keep = np.argpartition(-s, top_k)[:top_k]
            js, s = js[keep], s[keep]
        order = np.lexsort((js, -s))
        indices.append(js[order].astype(np.int64))
        scores.append(s[order].astype(np.float32))
        indptr.append(indptr[-1] + len(order))
    return (
        np.asarray(indptr, dtype=np.int64),
        np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
        np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32),
    )


def build_model(rows, top_k: int) -> CooccurrenceModel:
    """``rows``: iterable of ``(person, item_key, event_type)`` (any order)."""
    item_index: dict[str, int] = {}
    baskets: dict[str, dict[str, list[int]]] = {name: {} for name in RELATIONS}
    for person, item_key, event_type in rows:
        if not item_key:
            continue
        idx = item_index.setdefault(item_key, len(item_index))
        for name, types in RELATIONS.items():
            if event_type in types:
                baskets[name].setdefault(person, []).append(idx)
    keys = [None] * len(item_index)
    for key, idx in item_index.items():
        keys[idx] = key
    relations = {name: build_relation(list(b.values()), len(keys), top_k) for name, b in baskets.items()}
    return CooccurrenceModel(keys, relations)


def _event_rows(since, until=None):
    types = sorted({t for ts in RELATIONS.values() for t in ts})
    qs = Event.objects.filter(event_type__in=types, occurred_at__gte=since).exclude(item_key="")
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    for user_key, visitor_key, item_key, event_type, when in (
        qs.values_list("user_key", "visitor_key", "item_key", "event_type", "occurred_at")
        .order_by()
        .iterator(chunk_size=5000)
    ):
        if user_key or visitor_key:
            yield _person(user_key, visitor_key), item_key, event_type, when


def hit_rate(model: CooccurrenceModel, train_rows, test_rows, k: int = 10) -> tuple[float, int]:
    """HR@k of "next item": each test shopper's first new item, from their last training item."""
    last_train: dict[str, tuple] = {}
    for person, item_key, _type, when in train_rows:
        if person not in last_train or when >= last_train[person][1]:
            last_train[person] = (item_key, when)
    first_test: dict[str, tuple] = {}
    for person, item_key, _type, when in test_rows:
        if person in last_train and item_key != last_train[person][0]:
            if person not in first_test or when < first_test[person][1]:
                first_test[person] = (item_key, when)
    if not first_test:
        return 0.0, 0
    hits = sum(
        1
        for person, (target, _) in first_test.items()
        if target in {key for key, _ in model.neighbors(last_train[person][0], "viewed", k)}
    )
    return hits / len(first_test), len(first_test)


class CooccurrenceTrainer(Trainer):
    """Registry trainer of kind ``cooccurrence``; gate metric: held-out next-item HR@10."""

    kind = "cooccurrence"
    primary_metric = "hr@10"
    higher_is_better = True

    def train(self, params, progress):
        now = timezone.now()
        window = int(params.get("window_days", ecom_settings.RECOMMEND_COOCCURRENCE_WINDOW_DAYS))
        top_k = int(params.get("neighbors", ecom_settings.RECOMMEND_COOCCURRENCE_NEIGHBORS))
        holdout = float(params.get("holdout_fraction", 0.1))
        since = now - timedelta(days=window)
        progress.update(percent=5, message="Reading events.")
        rows = list(_event_rows(since, now))
        people = {r[0] for r in rows}
        if len(rows) < 10 or len(people) < 2:
            raise NotEnoughData(
                f"{len(rows)} item events from {len(people)} shoppers in the last {window} days; "
                "need at least 10 events from 2 shoppers"
            )
        rows.sort(key=lambda r: r[3])
        start, end = rows[0][3], rows[-1][3]
        cut = start + (end - start) * (1 - holdout)
        train_rows = [r for r in rows if r[3] < cut]
        test_rows = [r for r in rows if r[3] >= cut]
        progress.update(percent=30, message="Evaluating on the held-out window.")
        held_out = build_model(((p, i, t) for p, i, t, _ in train_rows), top_k)
        hr, evaluated = hit_rate(held_out, train_rows, test_rows)
        progress.update(percent=60, message="Building the table on all events.")
        model = build_model(((p, i, t) for p, i, t, _ in rows), top_k)
        progress.update(percent=95, message="Done.")
        payload = {
            "format": PAYLOAD_FORMAT,
            "item_keys": model.item_keys,
            "relations": {
                name: {"indptr": torch.from_numpy(a), "indices": torch.from_numpy(b), "scores": torch.from_numpy(c)}
                for name, (a, b, c) in model.relations.items()
            },
        }
        pairs = {name: int(len(rel[1])) for name, rel in model.relations.items()}
        return TrainResult(
            payload=payload,
            metrics={
                "hr@10": hr,
                "evaluated_shoppers": evaluated,
                "items": len(model),
                "shoppers": len(people),
                "events": len(rows),
                **{f"pairs_{name}": n for name, n in pairs.items()},
            },
            params={"window_days": window, "neighbors": top_k, "holdout_fraction": holdout},
            data_start=start,
            data_end=end,
        )

    def load(self, payload):
        if not isinstance(payload, dict) or payload.get("format") != PAYLOAD_FORMAT:
            raise ValueError("not a co-occurrence artifact of format 1")
        relations = {
            name: (rel["indptr"].numpy(), rel["indices"].numpy(), rel["scores"].numpy())
            for name, rel in payload["relations"].items()
        }
        return CooccurrenceModel(payload["item_keys"], relations)


# --------------------------------------------------------------------------- live fallback

LIVE_CACHE_SIZE = 2048
LIVE_MAX_SHOPPERS = 300
LIVE_MAX_ROWS = 20000
# (item key, relation) -> (neighbours, how many were computed)
_live_cache = TTLCache(
    "recommend.live_cooccurrence", ttl=lambda: ecom_settings.RECOMMEND_CACHE_SECONDS, maxsize=lambda: LIVE_CACHE_SIZE
)


def clear_live_cache() -> None:
    _live_cache.clear()


def live_neighbors(item_key: str, relation: str = "bought", k: int = 10) -> list[tuple[str, float]]:
    """Neighbours of one item computed from the event log now (no trained table needed).

    Reads the latest shoppers of the item (at most 300) and their other items in the
    co-occurrence window; scored like the trained table but normalised by this item's
    shoppers only. Cached per process for ``RECOMMEND_CACHE_SECONDS``.
    """
    if not item_key or relation not in RELATIONS:
        return []
    cache_key = (item_key, relation)
    hit = _live_cache.get(cache_key)
    if hit is not None and k <= hit[1]:
        return hit[0][:k]
    generation = _live_cache.generation
    types = RELATIONS[relation]
    since = timezone.now() - timedelta(days=ecom_settings.RECOMMEND_COOCCURRENCE_WINDOW_DAYS)
    shoppers = (
        Event.objects.filter(item_key=item_key, event_type__in=types, occurred_at__gte=since)
        .order_by("-occurred_at")
        .values_list("user_key", "visitor_key")[: LIVE_MAX_SHOPPERS * 3]
    )
    users, visitors, people = set(), set(), set()
    for user_key, visitor_key in shoppers:
        if user_key:
            users.add(user_key)
        elif visitor_key:
            visitors.add(visitor_key)
        people.add(_person(user_key, visitor_key))
        if len(people) >= LIVE_MAX_SHOPPERS:
            break
    result: list[tuple[str, float]] = []
    if people:
        condition = Q()
        if users:
            condition |= Q(user_key__in=users)
        if visitors:
            condition |= Q(visitor_key__in=visitors)
        rows = (
            Event.objects.filter(condition, event_type__in=types, occurred_at__gte=since)
            .exclude(item_key="")
            .values_list("user_key", "visitor_key", "item_key")[:LIVE_MAX_ROWS]
        )
        pairs = {(_person(u, v), key) for u, v, key in rows if key != item_key}
        counts = Counter(key for _, key in pairs)
        n = len(people)
        result = sorted(
            ((key, c / np.sqrt(n * max(c, 1)) * (c / (c + SHRINK))) for key, c in counts.items()),
            key=lambda pair: (-pair[1], pair[0]),
        )
        result = [(key, float(score)) for key, score in result[: max(k, 50)]]
    _live_cache.set(cache_key, (result, max(k, 50)), generation=generation)
    return result[:k]
