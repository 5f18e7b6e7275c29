"""Serving stage 3a, where candidates come from: the strategy functions.

A strategy is a function ``(ctx: Context, k: int) -> list[Candidate]`` proposing up to
``k`` items, best first, each with its reason. ``ECOM_AI["RECOMMEND_STRATEGIES"]`` maps
the names placements and variants use to dotted paths of such functions (merged key by
key over the built-in ones below, so a shop adds one or replaces one without repeating the
others), as ``TRAINERS`` does for model kinds. A strategy reads what it needs (the
co-occurrence table, the trending table, the model); the candidate pipeline
(``ecom_ai.recommend.candidates``) decides what the list keeps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.recommend import cooccurrence, popularity, versions
from ecom_ai.recommend.history import ShopperState
from ecom_ai.recommend.identity import Identity
from ecom_ai.recommend.rules import Candidate

logger = logging.getLogger("ecom_ai.recommend")


@dataclass
class Context:
    identity: Identity
    state: ShopperState
    anchors: dict[str, float]  # item -> weight (the page's item, the cart, or recent interest)
    anchor_is_page_item: bool
    recommender: Any
    cooccurrence: Any
    titles: dict[str, str]
    exclude: set[str]

    def title(self, key: str) -> str:
        return self.titles.get(key) or "this item"


def _related(ctx: Context, relation: str, k: int) -> list[Candidate]:
    if not ctx.anchors:
        return []
    verb = "bought" if relation == "bought" else "viewed"
    if ctx.cooccurrence is not None:
        rows = ctx.cooccurrence.related(ctx.anchors, relation, k, exclude=ctx.exclude)
    else:  # no trained table yet: ask the event log, item by item
        total: dict[str, float] = {}
        best: dict[str, tuple[float, str]] = {}
        for anchor, weight in ctx.anchors.items():
            for key, score in cooccurrence.live_neighbors(anchor, relation, k=max(k, 20)):
                if key in ctx.exclude or key in ctx.anchors:
                    continue
                total[key] = total.get(key, 0.0) + weight * score
                if weight * score > best.get(key, (0.0, ""))[0]:
                    best[key] = (weight * score, anchor)
        rows = [(key, s, best[key][1]) for key, s in sorted(total.items(), key=lambda p: (-p[1], p[0]))[:k]]
    if ctx.anchor_is_page_item or len(ctx.anchors) == 1:
        return [
            Candidate(key, s, f"Customers who {verb} {ctx.title(a)} also {verb} this", relation) for key, s, a in rows
        ]
    return [Candidate(key, s, f"Because you were interested in {ctx.title(a)}", relation) for key, s, a in rows]


def strategy_model(ctx: Context, k: int) -> list[Candidate]:
    if ctx.recommender is None:
        return []
    history = list(ctx.state.history)
    if ctx.anchor_is_page_item:
        page_item = next(iter(ctx.anchors))
        if not history or history[-1][0] != page_item:
            history.append((page_item, "view", ctx.identity.channel))
    if not history:
        return []
    try:
        with versions.inference_threads():
            pairs = ctx.recommender.recommend(history, k, exclude=set(ctx.exclude))
    except Exception:  # noqa: BLE001 - a model bug must not break the page
        logger.exception("ecom_ai: the recommender failed; falling back")
        return []
    return [Candidate(key, s, "Picked for you from your recent activity", "model") for key, s in pairs]


def strategy_similar(ctx: Context, k: int) -> list[Candidate]:
    if ctx.recommender is not None and ctx.anchors:
        anchor = max(ctx.anchors, key=ctx.anchors.get)
        try:
            with versions.inference_threads():
                pairs = ctx.recommender.similar_items(anchor, k, exclude=set(ctx.exclude))
        except Exception:  # noqa: BLE001
            logger.exception("ecom_ai: similar_items failed; falling back")
            pairs = []
        if pairs:
            return [Candidate(key, s, f"Similar to {ctx.title(anchor)}", "similar") for key, s in pairs]
    return _related(ctx, "viewed", k)


def strategy_also_bought(ctx: Context, k: int) -> list[Candidate]:
    return _related(ctx, "bought", k)


def strategy_also_viewed(ctx: Context, k: int) -> list[Candidate]:
    return _related(ctx, "viewed", k)


def strategy_trending(ctx: Context, k: int) -> list[Candidate]:
    table = popularity.trending_table()
    return [
        Candidate(key, s, "New arrival" if key in table.new_arrivals else "Trending now", "trending")
        for key, s in table.top(k, exclude=ctx.exclude)
    ]


def strategy_trending_category(ctx: Context, k: int) -> list[Candidate]:
    table = popularity.trending_table()
    weights: dict[str, float] = {}
    for key, weight in (ctx.anchors or ctx.state.top_recent(10)).items():
        category = table.category_of.get(key) or ""
        if category:
            weights[category] = weights.get(category, 0.0) + weight
    out: list[Candidate] = []
    for category in sorted(weights, key=lambda c: -weights[c])[:3]:
        out += [
            Candidate(key, s * weights[category], f"Trending in {category}", "trending_category")
            for key, s in table.top(k, category=category, exclude=ctx.exclude)
        ]
    out.sort(key=lambda c: -c.score)
    return out[:k]


def strategy_for_you(ctx: Context, k: int) -> list[Candidate]:
    picked = strategy_model(ctx, k)
    if len(picked) < k:
        seen = {c.key for c in picked}
        recent = Context(
            **{**ctx.__dict__, "anchors": ctx.anchors or ctx.state.top_recent(5), "anchor_is_page_item": False}
        )
        picked += [c for c in _related(recent, "viewed", k) if c.key not in seen]
    return picked[:k]


#: the built-in strategies (the default of ``RECOMMEND_STRATEGIES`` names them by dotted path)
STRATEGIES = {
    "model": strategy_model,
    "for_you": strategy_for_you,
    "similar": strategy_similar,
    "also_bought": strategy_also_bought,
    "also_viewed": strategy_also_viewed,
    "trending": strategy_trending,
    "trending_category": strategy_trending_category,
}
#: strategies that use the recommender model (the list records the model version)
MODEL_STRATEGIES = frozenset({"model", "for_you", "similar"})
_import_failed: set = set()


def get_strategy(name: str):
    """The strategy function named ``name`` in ``RECOMMEND_STRATEGIES`` (imported once); an
    unknown name, or one whose function cannot be imported (``ecom_ai.E040``, logged once),
    gives trending."""
    if name in ecom_settings.RECOMMEND_STRATEGIES:
        try:
            return ecom_settings.imported("RECOMMEND_STRATEGIES", name)
        except ImportError as exc:
            if name not in _import_failed:
                _import_failed.add(name)
                logger.error(
                    "ecom_ai: the %r recommendation strategy cannot be imported (%s); serving trending", name, exc
                )
    return strategy_trending
