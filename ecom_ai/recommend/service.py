"""``RecommendationService.recommend()``: one list for one shopper in one placement.

::

    from ecom_ai.recommend.service import RecommendationService

    recs = RecommendationService().recommend(request, "product", item=product, limit=4)
    recs.id          # UUID of the served list (attribution, A/B reports)
    recs.items       # [(key, score, reason), ...] best first
    recs.products    # the host's own product objects, same order, each with .ecom_ai_reason

Per call: one indexed query for the shopper's latest ``RECOMMEND_HISTORY_LENGTH`` events
(user key or visitor key, so anonymous visitors count and a new click shows on the next
page), candidates from the placement's strategy then its fallback then trending, the
rules with item facts from the per-process cache (``ecom_ai.recommend.facts``), and the
served list and its impression event handed to ``ecom_ai.recommend.logwriter`` (written
in bulk by a background thread with ``RECOMMEND_LOG_MODE = "buffered"``, in the request
with ``"sync"``). Models come from the registry and stay in memory (``load_active``);
placements, rules and experiments are cached per process for
``RECOMMEND_PLACEMENT_CACHE_SECONDS`` (and dropped at once in the process that edits
them). Nothing here raises into a page for missing models, data or artifacts: those give
a fallback list.
"""
from __future__ import annotations

import hashlib
import logging
import sys
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connections, router
from django.db.models import Q
from django.utils import timezone

from ecom_ai import signals
from ecom_ai.adapters import get_adapter
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import Event, Experiment, ModelVersion, Placement
from ecom_ai.recommend import cooccurrence, history_cache, list_cache, popularity
from ecom_ai.recommend.experiments import choose_variant
from ecom_ai.recommend.facts import shared_version as facts_version
from ecom_ai.recommend.rules import Candidate, RuleSet, apply_rules

logger = logging.getLogger("ecom_ai.recommend")

RECOMMENDER_KIND = "recommender"
COOCCURRENCE_KIND = "cooccurrence"
MAX_ITEM_KEY_LENGTH = 191

#: created on first use when a template or the API names them; edit them in the admin
DEFAULT_PLACEMENTS = {
    "home": {"name": "Home page", "title": "Recommended for you", "default_limit": 8, "strategy": "for_you",
             "fallback_strategy": "trending", "max_per_category": 3},
    "product": {"name": "Product page", "title": "Customers also bought", "default_limit": 4,
                "strategy": "also_bought", "fallback_strategy": "also_viewed"},
    "cart": {"name": "Cart", "title": "Complete your order", "default_limit": 4, "strategy": "also_bought",
             "fallback_strategy": "for_you", "max_per_category": 2},
    "email": {"name": "Email", "title": "Picked for you", "default_limit": 6, "strategy": "for_you",
              "fallback_strategy": "trending", "exclude_in_cart": False, "max_per_category": 2},
}


class RecommendationError(ValueError):
    """Bad input to the service (unknown placement, bad limit, malformed item key)."""


class UnknownPlacement(RecommendationError):
    pass


# --------------------------------------------------------------------------- identity

@dataclass(frozen=True)
class Identity:
    """Who the list is for: a visitor key (cookie, app install…), a user key, or both."""

    visitor_key: str = ""
    user_key: str = ""
    channel: str = "web"

    @property
    def bucket_key(self) -> str:
        return self.visitor_key or (f"user:{self.user_key}" if self.user_key else "")

    def __bool__(self):
        return bool(self.visitor_key or self.user_key)


def resolve_identity(who) -> Identity:
    """An ``Identity`` from a request, a host user, an Identity, a dict or None."""
    if isinstance(who, Identity):
        return who
    if who is None:
        return Identity()
    if isinstance(who, dict):
        return Identity(visitor_key=str(who.get("visitor_key") or ""), user_key=str(who.get("user_key") or ""),
                        channel=str(who.get("channel") or "web"))
    if hasattr(who, "META") and hasattr(who, "method"):  # an HttpRequest
        from ecom_ai.events.middleware import get_visitor_key

        user = getattr(who, "user", None)
        user_key = get_adapter().user_key(user) if user is not None else ""
        return Identity(visitor_key=get_visitor_key(who), user_key=user_key)
    return Identity(user_key=get_adapter().user_key(who))


# --------------------------------------------------------------------------- history

@dataclass
class ShopperState:
    """What the latest events say about the shopper, read once per request."""

    history: list[tuple[str, str, str]] = field(default_factory=list)  # (item, type, channel) oldest first
    cart: list[str] = field(default_factory=list)
    purchased: set[str] = field(default_factory=set)
    recent: dict[str, float] = field(default_factory=dict)  # item -> interest weight

    @classmethod
    def from_events(cls, rows, history_length: int | None = None) -> "ShopperState":
        """``rows``: (item_key, event_type, channel) oldest → newest.

        Purchases and the cart are read from all rows; the sequence and the interest
        weights from the latest ``history_length`` (default ``RECOMMEND_HISTORY_LENGTH``).
        """
        state = cls()
        weights = ecom_settings.RECOMMEND_EVENT_WEIGHTS
        history_length = history_length or ecom_settings.RECOMMEND_HISTORY_LENGTH
        cart: dict[str, None] = {}
        first_recent = max(len(rows) - history_length, 0)
        n = len(rows)
        for i, (key, event_type, channel) in enumerate(rows):
            if not key:
                continue
            if event_type == "add_to_cart":
                cart[key] = None
            elif event_type in ("remove_from_cart", "purchase"):
                cart.pop(key, None)
            if event_type == "purchase":
                state.purchased.add(key)
            if i < first_recent:
                continue
            state.history.append((key, event_type, channel))
            weight = float(weights.get(event_type, 0.0))
            if weight:
                recency = 0.85 ** (n - 1 - i)
                state.recent[key] = state.recent.get(key, 0.0) + weight * recency
        state.cart = list(cart)
        return state

    def top_recent(self, n: int = 5) -> dict[str, float]:
        return dict(sorted(self.recent.items(), key=lambda pair: -pair[1])[:n])


#: how many latest events are read for the purchased / in-cart exclusions (the model sees fewer)
EVENTS_SCANNED = 500


def fetch_history(identity: Identity, length: int | None = None) -> list[tuple[str, str, str]]:
    """The shopper's latest events, oldest first: one query on the (user|visitor, time) indexes.

    ``length`` defaults to ``max(RECOMMEND_HISTORY_LENGTH, EVENTS_SCANNED)``. The query runs
    on every served list, so its SQL is compiled by the ORM once per shape and database
    and then executed directly (compiling it costs more CPU than running it).
    """
    if not (identity.user_key or identity.visitor_key):
        return []
    length = length or max(ecom_settings.RECOMMEND_HISTORY_LENGTH, EVENTS_SCANNED)
    alias = router.db_for_read(Event)
    sql, slots = _history_sql(alias, bool(identity.user_key), bool(identity.visitor_key), int(length))
    values = {_USER_SLOT: identity.user_key, _VISITOR_SLOT: identity.visitor_key}
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [values.get(p, p) if isinstance(p, str) else p for p in slots])
        rows = [tuple(row) for row in cursor.fetchall()]
    rows.reverse()
    return rows


_USER_SLOT, _VISITOR_SLOT = "\x00ecom_ai:user_key", "\x00ecom_ai:visitor_key"
_history_sql_cache: dict[tuple, tuple[str, tuple]] = {}


def _history_sql(alias: str, by_user: bool, by_visitor: bool, length: int) -> tuple[str, tuple]:
    """``(sql, params)`` of the history query, with placeholders standing for the keys."""
    key = (alias, by_user, by_visitor, length)
    cached = _history_sql_cache.get(key)
    if cached is None:
        condition = Q()
        if by_user:
            condition |= Q(user_key=_USER_SLOT)
        if by_visitor:
            condition |= Q(visitor_key=_VISITOR_SLOT)
        query = (Event.objects.using(alias).filter(condition).exclude(event_type="impression")
                 .order_by("-occurred_at", "-pk").values_list("item_key", "event_type", "channel")[:length]).query
        sql, params = query.get_compiler(using=alias).as_sql()
        cached = _history_sql_cache[key] = (sql, tuple(params))
    return cached


# --------------------------------------------------------------------------- placements

@dataclass
class PlacementConfig:
    placement: Placement
    ruleset_rules: list
    experiment: Experiment | None
    variants: list
    loaded_at: float
    fingerprint: str = ""  # of everything above that decides a list (the list cache's key)

    def __post_init__(self):
        rows = [self.placement, *self.ruleset_rules, *([self.experiment] if self.experiment else []), *self.variants]
        text = repr(sorted((type(row).__name__, row.pk, [(f.attname, getattr(row, f.attname))
                                                         for f in row._meta.concrete_fields]) for row in rows))
        self.fingerprint = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def ruleset(self) -> RuleSet:
        return RuleSet.from_rules(self.ruleset_rules)


_placements: dict[str, PlacementConfig] = {}
_placements_lock = threading.Lock()


def clear_placement_cache(*args, **kwargs) -> None:
    with _placements_lock:
        _placements.clear()


def ensure_default_placements() -> list[Placement]:
    """Create the default placements that do not exist yet (never changes existing ones)."""
    created = []
    for slug, values in DEFAULT_PLACEMENTS.items():
        placement, was_created = Placement.objects.get_or_create(slug=slug, defaults=values)
        if was_created:
            created.append(placement)
    if created:
        clear_placement_cache()
    return created


def get_placement_config(slug) -> PlacementConfig:
    if isinstance(slug, Placement):
        slug = slug.slug
    if not isinstance(slug, str) or not slug or len(slug) > 64:
        raise UnknownPlacement("placement must be a placement slug such as 'home'")
    now = time.monotonic()
    entry = _placements.get(slug)
    if entry is not None and now - entry.loaded_at < ecom_settings.RECOMMEND_PLACEMENT_CACHE_SECONDS:
        return entry
    placement = Placement.objects.filter(slug=slug).first()
    if placement is None and slug in DEFAULT_PLACEMENTS:
        placement, _ = Placement.objects.get_or_create(slug=slug, defaults=DEFAULT_PLACEMENTS[slug])
    if placement is None:
        known = sorted(set(Placement.objects.values_list("slug", flat=True)) | set(DEFAULT_PLACEMENTS))
        raise UnknownPlacement(f"unknown placement {slug!r}; known placements: {', '.join(known)}")
    rules = list(placement.rules.filter(enabled=True))
    experiment = next((e for e in placement.experiments.filter(status=Experiment.Status.RUNNING)
                       .prefetch_related("variants") if e.is_live()), None)
    variants = list(experiment.variants.all()) if experiment else []
    entry = PlacementConfig(placement, rules, experiment, variants, now)
    with _placements_lock:
        _placements[slug] = entry
    return entry


# --------------------------------------------------------------------------- models

_versions: OrderedDict = OrderedDict()
_versions_lock = threading.Lock()


def load_version(version_id: int):
    """The servable object of one specific model version (for experiment variants), or None."""
    from ecom_ai.ml.artifacts import load_artifact
    from ecom_ai.ml.registry import get_trainer

    with _versions_lock:
        if version_id in _versions:
            _versions.move_to_end(version_id)
            return _versions[version_id]
    servable = None
    try:
        version = ModelVersion.objects.get(pk=version_id)
        if version.artifact:
            servable = get_trainer(version.kind).load(load_artifact(version.artifact))
    except Exception as exc:  # noqa: BLE001 - a broken variant falls back, never breaks a page
        logger.error("ecom_ai: model version %s cannot be loaded for an experiment: %s", version_id, exc)
    with _versions_lock:
        _versions[version_id] = servable
        while len(_versions) > 4:
            _versions.popitem(last=False)
    return servable


def clear_version_cache() -> None:
    with _versions_lock:
        _versions.clear()


@contextmanager
def inference_threads():
    """Run model inference with ``RECOMMEND_INFERENCE_THREADS`` torch threads (default 1).

    One small forward pass gains nothing from intra-op threads, and in a web server with
    several workers (or any other load) they oversubscribe the CPUs: measured on the
    sandbox's model, 1.8 ms per list with one thread against 130 ms with torch's default
    two on a busy 2-core machine. The previous setting is restored afterwards.
    """
    threads = ecom_settings.RECOMMEND_INFERENCE_THREADS
    torch = sys.modules.get("torch")
    if not threads or torch is None:
        yield
        return
    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if previous != threads:
            torch.set_num_threads(previous)


def _active(kind):
    from ecom_ai.ml.registry import load_active

    try:
        return load_active(kind)
    except Exception as exc:  # noqa: BLE001 - e.g. no trainer configured for the kind
        logger.debug("ecom_ai: no %s model: %s", kind, exc)
        return None


def _active_version_id(kind):
    """The id of the version ``load_active(kind)`` holds in this process (None: none loaded)."""
    from ecom_ai.ml import registry

    return getattr(registry._loaded.get(kind), "version_id", None)


# --------------------------------------------------------------------------- the result

class RecommendedItem(NamedTuple):
    key: str
    score: float
    reason: str


class RecommendationResult:
    """A served list: ``id``, ``items`` [(key, score, reason)], ``products`` (host objects)."""

    def __init__(self, *, id, placement: Placement, items: list[RecommendedItem], identity: Identity,
                 strategy: str, variant=None, model_version_id=None, anchor_item: str = "", facts=None):
        self.id = id
        self.placement = placement
        self.items = items
        self.identity = identity
        self.strategy = strategy
        self.variant = variant
        self.model_version_id = model_version_id
        self.anchor_item = anchor_item
        self.facts = facts or {}
        self._products = None

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)

    def __bool__(self):
        return bool(self.items)

    @property
    def keys(self) -> list[str]:
        return [item.key for item in self.items]

    @property
    def title(self) -> str:
        return self.placement.title or self.placement.name

    @property
    def products(self) -> list[Any]:
        """The host's product objects in list order, each with ``ecom_ai_reason``,
        ``ecom_ai_score``, ``ecom_ai_rec_id``, ``ecom_ai_position`` and ``ecom_ai_placement``.
        Items the host no longer has are left out."""
        if self._products is None:
            try:
                found = get_adapter().get_products(self.keys)
            except Exception:  # noqa: BLE001 - a broken adapter must not break the page
                logger.exception("ecom_ai: the adapter could not fetch recommended products")
                found = {}
            products = []
            for position, item in enumerate(self.items, start=1):
                product = found.get(item.key)
                if product is None:
                    continue
                product.ecom_ai_reason = item.reason
                product.ecom_ai_score = item.score
                product.ecom_ai_rec_id = str(self.id)
                product.ecom_ai_position = position
                product.ecom_ai_placement = self.placement.slug
                products.append(product)
            self._products = products
        return self._products

    def as_dict(self) -> dict:
        return {
            "id": str(self.id), "placement": self.placement.slug, "title": self.title, "strategy": self.strategy,
            "variant": self.variant.name if self.variant is not None else None,
            "items": [{"key": i.key, "score": round(float(i.score), 6), "reason": i.reason,
                       "title": (self.facts.get(i.key) or {}).get("title", ""), "position": n}
                      for n, i in enumerate(self.items, start=1)],
        }


# --------------------------------------------------------------------------- strategies

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


def _normalised(pairs, tier: float) -> list[tuple[str, float]]:
    """Scores mapped into (tier, tier + 1] keeping order: earlier strategies always rank first."""
    pairs = list(pairs)
    if not pairs:
        return []
    values = [s for _, s in pairs]
    hi, lo = max(values), min(values)
    span = (hi - lo) or 1.0
    return [(key, tier + 0.1 + 0.9 * (s - lo) / span) for key, s in pairs]


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
        return [Candidate(key, s, f"Customers who {verb} {ctx.title(a)} also {verb} this", relation)
                for key, s, a in rows]
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
        with inference_threads():
            pairs = ctx.recommender.recommend(history, k, exclude=set(ctx.exclude))
    except Exception:  # noqa: BLE001 - a model bug must not break the page
        logger.exception("ecom_ai: the recommender failed; falling back")
        return []
    return [Candidate(key, s, "Picked for you from your recent activity", "model") for key, s in pairs]


def strategy_similar(ctx: Context, k: int) -> list[Candidate]:
    if ctx.recommender is not None and ctx.anchors:
        anchor = max(ctx.anchors, key=ctx.anchors.get)
        try:
            with inference_threads():
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
    return [Candidate(key, s, "New arrival" if key in table.new_arrivals else "Trending now", "trending")
            for key, s in table.top(k, exclude=ctx.exclude)]


def strategy_trending_category(ctx: Context, k: int) -> list[Candidate]:
    table = popularity.trending_table()
    weights: dict[str, float] = {}
    for key, weight in (ctx.anchors or ctx.state.top_recent(10)).items():
        category = table.category_of.get(key) or ""
        if category:
            weights[category] = weights.get(category, 0.0) + weight
    out: list[Candidate] = []
    for category in sorted(weights, key=lambda c: -weights[c])[:3]:
        out += [Candidate(key, s * weights[category], f"Trending in {category}", "trending_category")
                for key, s in table.top(k, category=category, exclude=ctx.exclude)]
    out.sort(key=lambda c: -c.score)
    return out[:k]


def strategy_for_you(ctx: Context, k: int) -> list[Candidate]:
    picked = strategy_model(ctx, k)
    if len(picked) < k:
        seen = {c.key for c in picked}
        recent = Context(**{**ctx.__dict__, "anchors": ctx.anchors or ctx.state.top_recent(5),
                            "anchor_is_page_item": False})
        picked += [c for c in _related(recent, "viewed", k) if c.key not in seen]
    return picked[:k]


STRATEGIES = {
    "model": strategy_model,
    "for_you": strategy_for_you,
    "similar": strategy_similar,
    "also_bought": strategy_also_bought,
    "also_viewed": strategy_also_viewed,
    "trending": strategy_trending,
    "trending_category": strategy_trending_category,
}


# --------------------------------------------------------------------------- the service

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


class RecommendationService:
    """Serves recommendation lists. Stateless; create one wherever it is handy."""

    def recommend(self, identity, placement, item=None, limit=None, *, exclude=(), log: bool = True,
                  channel: str | None = None) -> RecommendationResult:
        """A list for ``identity`` (a request, a host user, an ``Identity``) in ``placement``.

        ``item``: the page's item (a host product or its key), the anchor of "also bought"
        lists; an unknown key is fine (its list falls back). ``limit``: the list length
        (default: the placement's). ``exclude``: more item keys (or products) to leave out.
        ``log=False``: a preview; the list is neither stored nor logged nor signalled.
        Raises ``UnknownPlacement`` / ``RecommendationError`` for bad input; a disabled
        placement gives an empty list.
        """
        config = get_placement_config(placement)
        placement = config.placement
        limit = parse_limit(limit, placement.default_limit)
        anchor = _item_key(item)
        who = resolve_identity(identity)
        if channel:
            who = Identity(who.visitor_key, who.user_key, channel)
        rec_id = uuid.uuid4()
        if not placement.enabled:
            return RecommendationResult(id=rec_id, placement=placement, items=[], identity=who, strategy="disabled")

        variant = choose_variant(config.experiment.pk, config.variants, who.bucket_key) if config.experiment else None
        strategy = (variant.strategy if variant is not None and variant.strategy else placement.strategy)
        recommender, model_version_id = self._recommender(variant)
        extra_excluded = frozenset(_item_key(x) for x in exclude if x not in (None, ""))

        history_length = ecom_settings.RECOMMEND_HISTORY_LENGTH
        list_key = None
        if who and log and list_cache.enabled() and history_cache.enabled():  # previews are always computed
            now = timezone.now() if config.ruleset_rules else None
            list_key = list_cache.make_key((
                who.user_key, who.visitor_key, who.channel, config.fingerprint, anchor, limit,
                [rule.pk for rule in config.ruleset_rules if rule.is_live(now)],  # rules start and end in time
                sorted(extra_excluded), getattr(variant, "pk", None), model_version_id,
                _active_version_id(COOCCURRENCE_KIND), facts_version()))
        snapshot = history_cache.read(who, history_length, [list_key] if list_key else ()) if who \
            else history_cache.OFF
        if snapshot.tokens is None:
            list_key = None
        if list_key is not None:
            cached = list_cache.lookup((snapshot.extra or {}).get(list_key), snapshot.tokens)
            if cached is not None:  # copies: a caller may change its list without changing the next one
                return self._served(RecommendationResult(
                    id=rec_id, placement=placement, items=list(cached.items), identity=who, strategy=cached.strategy,
                    variant=variant, model_version_id=model_version_id if {"model", "for_you", "similar"} & set(
                        cached.used) else None, anchor_item=anchor, facts=dict(cached.facts)), log)

        state = snapshot.state
        if state is None:
            state = ShopperState.from_events(fetch_history(who)) if who else ShopperState()
            history_cache.store(who, history_length, snapshot, state)
        excluded = set(extra_excluded)
        if anchor and placement.exclude_viewed:
            excluded.add(anchor)
        if placement.exclude_purchased and who:
            excluded |= state.purchased
        if placement.exclude_in_cart:
            excluded |= set(state.cart)

        if anchor:
            anchors, page_item = {anchor: 1.0}, True
        elif placement.slug == "cart" or strategy in ("also_bought", "also_viewed") and state.cart:
            anchors, page_item = {key: 1.0 for key in state.cart[-5:]}, False
        else:
            anchors, page_item = {}, False
        if not anchors and strategy in ("also_bought", "also_viewed", "similar", "trending_category"):
            anchors = state.top_recent(5)
        ruleset = config.ruleset()
        titles = {k: f.get("title", "") for k, f in
                  popularity.item_facts(list(anchors) + list(state.top_recent(5))).items()}
        ctx = Context(identity=who, state=state, anchors=anchors, anchor_is_page_item=page_item,
                      recommender=recommender, cooccurrence=_active(COOCCURRENCE_KIND), titles=titles,
                      exclude=excluded | ruleset.excluded_items)

        chain = list(dict.fromkeys([strategy, placement.fallback_strategy, "trending"]))
        need = limit * 3 + len(ruleset.pins)
        facts: dict[str, dict] = {}
        final: list[Candidate] = []
        base_exclude = set(ctx.exclude)
        for _attempt in range(2):  # a second, deeper pass when rules (e.g. category caps) thinned the list
            candidates: list[Candidate] = []
            used = []
            ctx.exclude = set(base_exclude)
            exhausted = True
            for tier, name in enumerate(chain):
                proposed = STRATEGIES.get(name, strategy_trending)(ctx, need)
                if not proposed:
                    continue
                used.append(name)
                exhausted = exhausted and len(proposed) < need
                scored = _normalised([(c.key, c.score) for c in proposed], float(len(chain) - tier))
                for cand, (_, score) in zip(proposed, scored):
                    candidates.append(Candidate(cand.key, score, cand.reason, cand.source))
                facts.update(popularity.item_facts([c.key for c in proposed if c.key not in facts]
                                                   + [k for k in ruleset.pinned_item_keys if k not in facts]))
                final = apply_rules(candidates, limit=limit, ruleset=ruleset, facts=facts, excluded=excluded,
                                    exclude_out_of_stock=placement.exclude_out_of_stock,
                                    max_per_category=placement.max_per_category,
                                    category_fallback=self._category_fallback(facts))
                if len(final) >= limit:
                    break
                ctx.exclude |= {c.key for c in proposed}
            if len(final) >= limit or exhausted:
                break
            need = max(need * 5, 100)
        if not used:  # nothing anywhere (no events, no catalog): still apply pins
            final = apply_rules([], limit=limit, ruleset=ruleset, facts=popularity.item_facts(ruleset.pinned_item_keys),
                                excluded=excluded, exclude_out_of_stock=placement.exclude_out_of_stock,
                                max_per_category=placement.max_per_category)
        items = [RecommendedItem(c.key, round(float(c.score), 6), c.reason) for c in final]
        result = RecommendationResult(
            id=rec_id, placement=placement, items=items, identity=who, strategy="+".join(used) or strategy,
            variant=variant, model_version_id=model_version_id if {"model", "for_you", "similar"} & set(used) else None,
            anchor_item=anchor, facts=facts)
        if list_key is not None:
            list_cache.put(list_key, snapshot.tokens, list_cache.CachedList(
                list(items), result.strategy, tuple(used),
                {item.key: facts[item.key] for item in items if item.key in facts}))
        return self._served(result, log)

    def _served(self, result: RecommendationResult, log: bool) -> RecommendationResult:
        """Store and announce a served list (``log=False``: a preview, neither)."""
        if not log:  # a preview (admin): nothing stored, nothing announced
            return result
        items = result.items
        if items:
            self._log(result)
        try:
            signals.recommendations_served.send(sender=RecommendationService, recommendation=result)
        except Exception:  # noqa: BLE001 - a host receiver must not break the page
            logger.exception("ecom_ai: a recommendations_served receiver failed")
        return result

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _recommender(variant):
        if variant is not None and variant.model_version_id:
            return load_version(variant.model_version_id), variant.model_version_id
        model = _active(RECOMMENDER_KIND)
        if model is None:
            return None, None
        return model, _active_version_id(RECOMMENDER_KIND)

    @staticmethod
    def _category_fallback(facts):
        def fallback(category, exclude):
            rows = popularity.trending(20, category=category, exclude=exclude)
            facts.update(popularity.item_facts([k for k, _ in rows if k not in facts]))
            return rows
        return fallback

    @staticmethod
    def _log(result: RecommendationResult) -> None:
        """Store the served list and its impression event (``RECOMMEND_LOG_MODE``: buffered or
        in the request); a failure is logged, never raised."""
        from ecom_ai.recommend import logwriter

        logwriter.log_served(result)


def recommend(identity, placement, item=None, limit=None, **kwargs) -> RecommendationResult:
    """Shortcut for ``RecommendationService().recommend(...)``."""
    return RecommendationService().recommend(identity, placement, item=item, limit=limit, **kwargs)
