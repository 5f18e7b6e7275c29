"""Merchandising rules of a placement, applied to a ranked candidate list.

Order of application (documented in docs/recommendations.md):

1. **exclusions**: the page's own item, the shopper's purchased / in-cart items, items out
   of stock or inactive in the catalog mirror (each by the placement's switches), items and
   categories with an ``exclude`` rule, and whatever the caller excluded;
2. **boost / bury**: the score is multiplied (boost) or divided (bury) by the rule's weight,
   for a matching item or category; then the list is re-sorted;
3. **at most N per category**: a greedy pass keeps the best items of each category
   (items without a category are not capped);
4. **pins**: pinned items go to their position (1 = first; without a position, after the
   previous pins). A category pin puts the best remaining item of that category there.
   Pins still obey the exclusions of step 1, never the category cap.
5. the list is cut to the requested length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Candidate:
    key: str
    score: float
    reason: str
    source: str = ""  # the strategy that proposed it


@dataclass
class RuleSet:
    """The live rules of one placement, in a form cheap to apply."""

    pins: list = field(default_factory=list)  # (position or None, item_key, category, note)
    item_factor: dict = field(default_factory=dict)  # key -> multiplier
    category_factor: dict = field(default_factory=dict)
    excluded_items: set = field(default_factory=set)
    excluded_categories: set = field(default_factory=set)

    @classmethod
    def from_rules(cls, rules, now=None) -> "RuleSet":
        ruleset = cls()
        for rule in rules:
            if not rule.is_live(now):
                continue
            weight = max(float(rule.weight or 1.0), 1.0)
            if rule.action == "pin":
                ruleset.pins.append((rule.position, rule.item_key, rule.category, rule.note))
            elif rule.action in ("boost", "bury"):
                factor = weight if rule.action == "boost" else 1.0 / weight
                target = ruleset.item_factor if rule.item_key else ruleset.category_factor
                name = rule.item_key or rule.category
                target[name] = target.get(name, 1.0) * factor
            elif rule.action == "exclude":
                if rule.item_key:
                    ruleset.excluded_items.add(rule.item_key)
                else:
                    ruleset.excluded_categories.add(rule.category)
        ruleset.pins.sort(key=lambda pin: (pin[0] is None, pin[0] or 0))
        return ruleset

    @property
    def pinned_item_keys(self) -> list[str]:
        return [pin[1] for pin in self.pins if pin[1]]


def apply_rules(
    candidates: list[Candidate],
    *,
    limit: int,
    ruleset: RuleSet,
    facts: dict[str, dict],
    excluded: set[str] | frozenset[str],
    exclude_out_of_stock: bool,
    max_per_category: int | None,
    category_fallback: Callable[[str, set], list[tuple[str, float]]] | None = None,
) -> list[Candidate]:
    """The final list: ``candidates`` (best first) after the placement's rules.

    ``facts`` maps item keys to catalog-mirror facts (``category``, ``in_stock``,
    ``is_active``); an item the mirror does not know is kept (the mirror may lag).
    ``category_fallback(category, exclude)`` gives trending items of a category for
    category pins that match no candidate.
    """

    def category(key):
        return (facts.get(key) or {}).get("category") or ""

    def allowed(key):
        if not key or key in excluded or key in ruleset.excluded_items:
            return False
        fact = facts.get(key)
        if fact is not None:
            if not fact.get("is_active", True):
                return False
            if exclude_out_of_stock and not fact.get("in_stock", True):
                return False
            if fact.get("category") and fact["category"] in ruleset.excluded_categories:
                return False
        return True

    pool: list[Candidate] = []
    seen: set[str] = set()
    for cand in candidates:
        if cand.key in seen or not allowed(cand.key):
            continue
        seen.add(cand.key)
        factor = ruleset.item_factor.get(cand.key, 1.0) * ruleset.category_factor.get(category(cand.key), 1.0)
        if factor != 1.0:
            cand = Candidate(cand.key, cand.score * factor, cand.reason, cand.source)
        pool.append(cand)
    pool.sort(key=lambda c: -c.score)

    # pins first chosen, so the cap and the fill skip them
    pinned: list[tuple[int | None, Candidate]] = []
    taken: set[str] = set()
    for position, item_key, cat, note in ruleset.pins:
        choice = None
        if item_key:
            if allowed(item_key) and item_key not in taken:
                choice = Candidate(item_key, 0.0, note or "Featured", "pin")
        else:
            best = next((c for c in pool if c.key not in taken and category(c.key) == cat), None)
            if best is not None:
                choice = Candidate(best.key, best.score, note or best.reason, "pin")
            elif category_fallback is not None:
                for key, score in category_fallback(cat, taken | excluded):
                    if allowed(key):
                        choice = Candidate(key, score, note or f"Featured in {cat}", "pin")
                        break
        if choice is not None:
            taken.add(choice.key)
            pinned.append((position, choice))

    rest: list[Candidate] = []
    per_category: dict[str, int] = {}
    for cand in pool:
        if cand.key in taken:
            continue
        cat = category(cand.key)
        if max_per_category and cat:
            if per_category.get(cat, 0) >= max_per_category:
                continue
            per_category[cat] = per_category.get(cat, 0) + 1
        rest.append(cand)
        if len(rest) >= limit:
            break

    final = list(rest)
    next_free = 0
    for position, cand in pinned:
        index = (position - 1) if position else next_free
        index = max(0, min(index, len(final)))
        final.insert(index, cand)
        next_free = index + 1
    return final[:limit]
