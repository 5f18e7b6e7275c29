"""``RecommendationService.recommend()``: one list for one shopper in one placement.

::

    from ecom_ai.recommend.service import RecommendationService

    recs = RecommendationService().recommend(request, "product", item=product, limit=4)
    recs.id          # UUID of the served list (attribution, A/B reports)
    recs.items       # [(key, score, reason), ...] best first
    recs.products    # the host's own product objects, same order, each with .ecom_ai_reason

``recommend()`` is a pipeline of named stages with one exit, each in its own module:

1. **who and what** (:meth:`RecommendationService.resolve`): the shopper
   (``identity.resolve_identity``), the placement's configuration, cached per process
   (``placements``), the experiment variant (``experiments.choose_variant``) and the model
   version serving it (``versions``);
2. **state**: the shopper's recent events (``history``: one indexed query, or the shared
   ``history_cache`` between two events of the same shopper) and, in the same round trip,
   a list computed a moment ago for exactly the same situation (``list_cache``);
3. **compute**: the strategies (``strategies``, pluggable by dotted path in
   ``RECOMMEND_STRATEGIES``) propose candidates and the pure candidate pipeline
   (``candidates``: tiers, then the placement's rules) chooses the list;
4. **store and announce**: the list and its impression are handed to the log
   (``logwriter.log_served``; ``served_lists`` is the one module that writes them,
   ``RECOMMEND_LOG_MODE`` decides when) and ``recommendations_served`` is sent.

Nothing here raises into a page for missing models, data or artifacts: those give a
fallback list. Bad input raises ``RecommendationError`` (``UnknownPlacement``).
The names below stay importable from this module (the rest of ecom_ai, the docs and host
code import them from here).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from ecom_ai import signals
from ecom_ai.adapters import get_adapter
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.recommend import (
    candidates,
    history,
    history_cache,
    list_cache,
    logwriter,
    popularity,
    strategies,
    versions,
)
from ecom_ai.recommend.errors import RecommendationError, UnknownPlacement
from ecom_ai.recommend.experiments import choose_variant
from ecom_ai.recommend.facts import shared_version as facts_version
from ecom_ai.recommend.history import EVENTS_SCANNED, ShopperState, fetch_history
from ecom_ai.recommend.identity import Identity, resolve_identity
from ecom_ai.recommend.placements import (
    DEFAULT_PLACEMENTS,
    PlacementConfig,
    clear_placement_cache,
    ensure_default_placements,
    get_placement_config,
)
from ecom_ai.recommend.results import RecommendationResult, RecommendedItem
from ecom_ai.recommend.strategies import (
    STRATEGIES,
    Context,
    strategy_also_bought,
    strategy_also_viewed,
    strategy_for_you,
    strategy_model,
    strategy_similar,
    strategy_trending,
    strategy_trending_category,
)
from ecom_ai.recommend.versions import (
    COOCCURRENCE_KIND,
    RECOMMENDER_KIND,
    clear_version_cache,
    inference_threads,
    load_version,
)

__all__ = [
    "COOCCURRENCE_KIND",
    "DEFAULT_PLACEMENTS",
    "EVENTS_SCANNED",
    "MAX_ITEM_KEY_LENGTH",
    "RECOMMENDER_KIND",
    "STRATEGIES",
    "Context",
    "Identity",
    "ListRequest",
    "PlacementConfig",
    "RecommendationError",
    "RecommendationResult",
    "RecommendationService",
    "RecommendedItem",
    "ShopperState",
    "UnknownPlacement",
    "clear_placement_cache",
    "clear_version_cache",
    "ensure_default_placements",
    "fetch_history",
    "get_placement_config",
    "inference_threads",
    "load_version",
    "parse_limit",
    "recommend",
    "resolve_identity",
    "strategy_also_bought",
    "strategy_also_viewed",
    "strategy_for_you",
    "strategy_model",
    "strategy_similar",
    "strategy_trending",
    "strategy_trending_category",
]

logger = logging.getLogger("ecom_ai.recommend")

MAX_ITEM_KEY_LENGTH = 191


# --------------------------------------------------------------------------- stage 1: who and what


@dataclass(slots=True)
class ListRequest:
    """What stage 1 resolved: everything that decides the list besides the shopper's events."""

    id: uuid.UUID
    config: PlacementConfig
    identity: Identity
    limit: int
    anchor: str = ""  # the page's item key
    extra_excluded: frozenset[str] = frozenset()
    variant: Any = None
    strategy: str = ""
    recommender: Any = None
    model_version_id: int | None = None

    @property
    def placement(self):
        return self.config.placement


def parse_limit(limit, default: int) -> int:
    if limit is None or limit == "":
        return default
    if isinstance(limit, bool):
        raise RecommendationError("limit must be a whole number")
    try:
        value = int(limit)
    except (TypeError, ValueError):
        raise RecommendationError(f"limit must be a whole number, got {limit!r}") from None
    if isinstance(limit, float) and limit != value:
        raise RecommendationError(f"limit must be a whole number, got {limit!r}")
    maximum = ecom_settings.RECOMMEND_MAX_LIMIT
    if not 1 <= value <= maximum:
        raise RecommendationError(f"limit must be between 1 and {maximum}, got {value}")
    return value


def _item_key(item) -> str:
    if item is None or item == "":
        return ""
    key = item if isinstance(item, str) else (str(item) if isinstance(item, int) else get_adapter().item_key(item))
    if len(key) > MAX_ITEM_KEY_LENGTH or "\x00" in key:
        raise RecommendationError(f"item must be an item key of at most {MAX_ITEM_KEY_LENGTH} characters")
    return key


# --------------------------------------------------------------------------- the service


class RecommendationService:
    """Serves recommendation lists. Stateless; create one wherever it is handy."""

    def recommend(
        self, identity, placement, item=None, limit=None, *, exclude=(), log: bool = True, channel: str | None = None
    ) -> RecommendationResult:
        """A list for ``identity`` (a request, a host user, an ``Identity``) in ``placement``.

        ``item``: the page's item (a host product or its key), the anchor of "also bought"
        lists; an unknown key is fine (its list falls back). ``limit``: the list length
        (default: the placement's). ``exclude``: more item keys (or products) to leave out.
        ``log=False``: a preview; the list is neither stored nor logged nor signalled.
        Raises ``UnknownPlacement`` / ``RecommendationError`` for bad input; a disabled
        placement gives an empty list.
        """
        ask = self.resolve(identity, placement, item, limit, exclude, channel)  # 1. who and what
        if not ask.placement.enabled:
            return RecommendationResult(
                id=ask.id, placement=ask.placement, items=[], identity=ask.identity, strategy="disabled"
            )
        reuse_key = self.reuse_key(ask) if log else None  # previews are always computed
        snapshot = history.read_snapshot(ask.identity, [reuse_key] if reuse_key else ())  # 2. state
        reused = self.reused_list(ask, snapshot, reuse_key)
        if reused is not None:
            return self.store_and_announce(reused, log)
        state = history.read_state(ask.identity, snapshot)
        selection = self.select(ask, state)  # 3. compute
        result = self.result(ask, selection)
        if reuse_key is not None and snapshot.tokens is not None:
            self.keep_for_reuse(reuse_key, snapshot, result, selection)
        return self.store_and_announce(result, log)  # 4. store and announce

    # -- 1. who and what ---------------------------------------------------------------------
    def resolve(self, identity, placement, item=None, limit=None, exclude=(), channel=None) -> ListRequest:
        """The request in resolved form; raises ``RecommendationError`` for bad input. A
        disabled placement resolves no variant or model."""
        config = get_placement_config(placement)
        placement = config.placement
        limit = parse_limit(limit, placement.default_limit)
        anchor = _item_key(item)
        who = resolve_identity(identity, channel)
        if not placement.enabled:
            return ListRequest(id=uuid.uuid4(), config=config, identity=who, limit=limit, anchor=anchor)
        variant = choose_variant(config.experiment.pk, config.variants, who.bucket_key) if config.experiment else None
        recommender, model_version_id = versions.recommender_for(variant)
        return ListRequest(
            id=uuid.uuid4(),
            config=config,
            identity=who,
            limit=limit,
            anchor=anchor,
            extra_excluded=frozenset(_item_key(x) for x in exclude if x not in (None, "")),
            variant=variant,
            strategy=variant.strategy if variant is not None and variant.strategy else placement.strategy,
            recommender=recommender,
            model_version_id=model_version_id,
        )

    # -- 2. state ------------------------------------------------------------------------------
    @staticmethod
    def reuse_key(ask: ListRequest) -> str | None:
        """The list cache's key of everything that decides this list but the shopper's events
        (None: no reuse, e.g. an anonymous request or no shared cache)."""
        if not (ask.identity and list_cache.enabled() and history_cache.enabled()):
            return None
        config, who = ask.config, ask.identity
        now = timezone.now() if config.ruleset_rules else None
        return list_cache.make_key(
            (
                who.user_key,
                who.visitor_key,
                who.channel,
                config.fingerprint,
                ask.anchor,
                ask.limit,
                [rule.pk for rule in config.ruleset_rules if rule.is_live(now)],  # rules start and end in time
                sorted(ask.extra_excluded),
                getattr(ask.variant, "pk", None),
                ask.model_version_id,
                versions.active_version_id(COOCCURRENCE_KIND),
                facts_version(),
            )
        )

    @staticmethod
    def reused_list(ask: ListRequest, snapshot, reuse_key) -> RecommendationResult | None:
        """A new list (own id) with the items computed a moment ago for the same situation, if
        the shopper did nothing since."""
        if reuse_key is None or snapshot.tokens is None:
            return None
        cached = list_cache.lookup((snapshot.extra or {}).get(reuse_key), snapshot.tokens)
        if cached is None:
            return None
        # copies: a caller may change its list without changing the next one
        return RecommendationResult(
            id=ask.id,
            placement=ask.placement,
            items=list(cached.items),
            identity=ask.identity,
            strategy=cached.strategy,
            variant=ask.variant,
            model_version_id=ask.model_version_id if strategies.MODEL_STRATEGIES & set(cached.used) else None,
            anchor_item=ask.anchor,
            facts=dict(cached.facts),
        )

    # -- 3. compute ----------------------------------------------------------------------------
    @staticmethod
    def select(ask: ListRequest, state: ShopperState) -> candidates.Selection:
        """The strategies' candidates through the candidate pipeline (tiers, then rules)."""
        placement = ask.placement
        excluded = candidates.excluded_items(placement, state, ask.anchor, ask.extra_excluded, bool(ask.identity))
        anchors, page_item = candidates.anchors_for(placement.slug, ask.strategy, ask.anchor, state)
        ruleset = ask.config.ruleset()
        titles = {
            k: f.get("title", "") for k, f in popularity.item_facts(list(anchors) + list(state.top_recent(5))).items()
        }
        ctx = Context(
            identity=ask.identity,
            state=state,
            anchors=anchors,
            anchor_is_page_item=page_item,
            recommender=ask.recommender,
            cooccurrence=versions.active(COOCCURRENCE_KIND),
            titles=titles,
            exclude=set(),
        )

        def propose(name: str, k: int, exclude: set[str]):
            ctx.exclude = exclude
            return strategies.get_strategy(name)(ctx, k)

        rules = candidates.ListRules(
            limit=ask.limit,
            ruleset=ruleset,
            excluded=excluded,
            exclude_out_of_stock=placement.exclude_out_of_stock,
            max_per_category=placement.max_per_category,
        )
        return candidates.select(
            candidates.chain_of(ask.strategy, placement.fallback_strategy),
            rules,
            exclude=set(excluded) | ruleset.excluded_items,
            propose=propose,
            facts_for=popularity.item_facts,
            trending_in=lambda category, exclude: popularity.trending(20, category=category, exclude=exclude),
        )

    @staticmethod
    def result(ask: ListRequest, selection: candidates.Selection) -> RecommendationResult:
        items = [RecommendedItem(c.key, round(float(c.score), 6), c.reason) for c in selection.items]
        return RecommendationResult(
            id=ask.id,
            placement=ask.placement,
            items=items,
            identity=ask.identity,
            strategy="+".join(selection.used) or ask.strategy,
            variant=ask.variant,
            model_version_id=ask.model_version_id if strategies.MODEL_STRATEGIES & set(selection.used) else None,
            anchor_item=ask.anchor,
            facts=selection.facts,
        )

    @staticmethod
    def keep_for_reuse(reuse_key: str, snapshot, result: RecommendationResult, selection) -> None:
        facts = selection.facts
        list_cache.put(
            reuse_key,
            snapshot.tokens,
            list_cache.CachedList(
                list(result.items),
                result.strategy,
                tuple(selection.used),
                {item.key: facts[item.key] for item in result.items if item.key in facts},
            ),
        )

    # -- 4. store and announce -------------------------------------------------------------------
    @staticmethod
    def store_and_announce(result: RecommendationResult, log: bool) -> RecommendationResult:
        """Store and announce a served list (``log=False``: a preview, neither)."""
        if not log:  # a preview (admin): nothing stored, nothing announced
            return result
        if result.items:
            logwriter.log_served(result)  # never raises; RECOMMEND_LOG_MODE decides when it is written
        try:
            signals.recommendations_served.send(sender=RecommendationService, recommendation=result)
        except Exception:  # noqa: BLE001 - a host receiver must not break the page
            logger.exception("ecom_ai: a recommendations_served receiver failed")
        return result

    _served = store_and_announce  # the name before the stages had names


def recommend(identity, placement, item=None, limit=None, **kwargs) -> RecommendationResult:
    """Shortcut for ``RecommendationService().recommend(...)``."""
    return RecommendationService().recommend(identity, placement, item=item, limit=limit, **kwargs)
