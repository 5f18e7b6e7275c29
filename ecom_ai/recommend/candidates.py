"""Serving stage 3b, the candidate pipeline: tiers of strategies, then the placement's rules.

Pure: no database, no cache, no model. What it needs from the world comes in as plain
values (the placement's switches, the shopper's state, the rules) and three functions the
service passes (``propose`` asks a strategy, ``facts_for`` gives catalog facts,
``trending_in`` gives a category's trending items), so every decision here is a unit test
with fakes.

How a list is chosen (:func:`select`):

1. the **chain** is the placement's (or variant's) strategy, its fallback strategy, then
   trending, each once;
2. each tier proposes ``3 × limit`` (+ pins) candidates, minus what earlier tiers proposed;
   its scores are mapped into ``(tier, tier + 1]`` so an earlier tier always ranks first;
3. after each tier the rules (``ecom_ai.recommend.rules.apply_rules``) make the list;
   the next tier is asked only when the list is still short;
4. when the rules thinned the list (e.g. category caps) and some tier had more to give,
   the whole chain runs once more, deeper (at least 100, 5 × as many).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ecom_ai.recommend.rules import Candidate, RuleSet, apply_rules

#: the strategies whose anchors are the cart's items on a cart page, or recent interest
_ITEM_TO_ITEM = ("also_bought", "also_viewed")
_NEED_ANCHORS = ("also_bought", "also_viewed", "similar", "trending_category")


@dataclass(frozen=True)
class ListRules:
    """What the placement says about the list, besides its rules: length and switches."""

    limit: int
    ruleset: RuleSet
    excluded: frozenset[str]  # never shown (page item, purchased, in cart, the caller's)
    exclude_out_of_stock: bool = True
    max_per_category: int | None = None


@dataclass
class Selection:
    """The chosen list (``items``, best first), the strategies that proposed candidates
    (``used``, in chain order) and the catalog facts read on the way (``facts``)."""

    items: list[Candidate] = field(default_factory=list)
    used: list[str] = field(default_factory=list)
    facts: dict[str, dict] = field(default_factory=dict)


def excluded_items(placement, state, anchor: str, extra: Iterable[str], known_shopper: bool) -> frozenset[str]:
    """The items the list must not show, by the placement's switches."""
    excluded = set(extra)
    if anchor and placement.exclude_viewed:
        excluded.add(anchor)
    if placement.exclude_purchased and known_shopper:
        excluded |= state.purchased
    if placement.exclude_in_cart:
        excluded |= set(state.cart)
    return frozenset(excluded)


def anchors_for(placement_slug: str, strategy: str, anchor: str, state) -> tuple[dict[str, float], bool]:
    """``(anchors, anchor_is_page_item)``: the items "related" strategies start from (item ->
    weight): the page's item, else the cart (cart page, or item-to-item strategies), else
    the shopper's recent interest for the strategies that need anchors."""
    if anchor:
        return {anchor: 1.0}, True
    if placement_slug == "cart" or strategy in _ITEM_TO_ITEM and state.cart:
        anchors = {key: 1.0 for key in state.cart[-5:]}
    else:
        anchors = {}
    if not anchors and strategy in _NEED_ANCHORS:
        anchors = state.top_recent(5)
    return anchors, False


def chain_of(strategy: str, fallback: str) -> list[str]:
    return list(dict.fromkeys([strategy, fallback, "trending"]))


def normalised(pairs, tier: float) -> list[tuple[str, float]]:
    """Scores mapped into (tier, tier + 1] keeping order: earlier strategies always rank first."""
    pairs = list(pairs)
    if not pairs:
        return []
    values = [s for _, s in pairs]
    hi, lo = max(values), min(values)
    span = (hi - lo) or 1.0
    return [(key, tier + 0.1 + 0.9 * (s - lo) / span) for key, s in pairs]


def select(
    chain: list[str],
    rules: ListRules,
    *,
    exclude: set[str],
    propose: Callable[[str, int, set[str]], list[Candidate]],
    facts_for: Callable[[list[str]], dict[str, dict]],
    trending_in: Callable[[str, set], list[tuple[str, float]]],
) -> Selection:
    """Run the tiers and the rules (see the module docstring).

    ``exclude``: keys no strategy should propose (the list's exclusions and the rules'
    excluded items); ``propose(name, k, exclude)``: a strategy's candidates;
    ``facts_for(keys)``: catalog facts of keys (missing keys: unknown items, kept);
    ``trending_in(category, exclude)``: ``(key, score)`` rows for category pins.
    """
    ruleset, limit = rules.ruleset, rules.limit
    need = limit * 3 + len(ruleset.pins)
    selection = Selection()
    facts = selection.facts

    def fallback(category, taken):
        rows = trending_in(category, taken)
        facts.update(facts_for([k for k, _ in rows if k not in facts]))
        return rows

    def apply(candidates):
        return apply_rules(
            candidates,
            limit=limit,
            ruleset=ruleset,
            facts=facts,
            excluded=rules.excluded,
            exclude_out_of_stock=rules.exclude_out_of_stock,
            max_per_category=rules.max_per_category,
            category_fallback=fallback,
        )

    for _attempt in range(2):  # a second, deeper pass when rules (e.g. category caps) thinned the list
        candidates: list[Candidate] = []
        used: list[str] = []
        asked = set(exclude)
        exhausted = True
        for tier, name in enumerate(chain):
            proposed = propose(name, need, asked)
            if not proposed:
                continue
            used.append(name)
            exhausted = exhausted and len(proposed) < need
            scored = normalised([(c.key, c.score) for c in proposed], float(len(chain) - tier))
            for cand, (_, score) in zip(proposed, scored):
                candidates.append(Candidate(cand.key, score, cand.reason, cand.source))
            facts.update(
                facts_for(
                    [c.key for c in proposed if c.key not in facts]
                    + [k for k in ruleset.pinned_item_keys if k not in facts]
                )
            )
            selection.items = apply(candidates)
            if len(selection.items) >= limit:
                break
            asked |= {c.key for c in proposed}
        selection.used = used
        if len(selection.items) >= limit or exhausted:
            break
        need = max(need * 5, 100)
    if not selection.used:  # nothing anywhere (no events, no catalog): still apply pins
        facts.update(facts_for(ruleset.pinned_item_keys))
        selection.items = apply_rules(
            [],
            limit=limit,
            ruleset=ruleset,
            facts=facts,
            excluded=rules.excluded,
            exclude_out_of_stock=rules.exclude_out_of_stock,
            max_per_category=rules.max_per_category,
        )
    return selection
