"""The candidate pipeline (``ecom_ai.recommend.candidates``): pure, tested with fakes, no database."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ecom_ai.recommend import candidates
from ecom_ai.recommend.candidates import ListRules, anchors_for, chain_of, excluded_items, select
from ecom_ai.recommend.history import ShopperState
from ecom_ai.recommend.rules import Candidate, RuleSet

FACTS = {f"a{i}": {"category": "A", "in_stock": True, "is_active": True} for i in range(10)}
FACTS.update({f"b{i}": {"category": "B", "in_stock": True, "is_active": True} for i in range(10)})
FACTS["a9"]["in_stock"] = False


class Strategies:
    """Fake strategies: each proposes its items in order, minus what it is told to exclude."""

    def __init__(self, **items):
        self.items = items
        self.calls: list[tuple[str, int, frozenset]] = []

    def __call__(self, name, k, exclude):
        self.calls.append((name, k, frozenset(exclude)))
        keys = [key for key in self.items.get(name, []) if key not in exclude][:k]
        return [Candidate(key, 10.0 - n, f"{name} reason", name) for n, key in enumerate(keys)]


def facts_for(keys):
    return {k: FACTS[k] for k in keys if k in FACTS}


def no_trending(category, exclude):
    return []


def rules(limit=3, **kwargs):
    return ListRules(
        limit=limit, ruleset=kwargs.pop("ruleset", RuleSet()), excluded=frozenset(kwargs.pop("excluded", ())), **kwargs
    )


def test_the_first_tier_fills_the_list_and_later_tiers_are_not_asked():
    propose = Strategies(for_you=["a1", "a2", "a3", "a4"], trending=["b1"])
    chosen = select(
        chain_of("for_you", "trending"),
        rules(3),
        exclude=set(),
        propose=propose,
        facts_for=facts_for,
        trending_in=no_trending,
    )
    assert [c.key for c in chosen.items] == ["a1", "a2", "a3"] and chosen.used == ["for_you"]
    assert [call[0] for call in propose.calls] == ["for_you"] and propose.calls[0][1] == 9  # 3 x limit
    assert set(chosen.facts) >= {"a1", "a2", "a3"}


def test_earlier_tiers_rank_first_and_later_ones_are_told_what_was_proposed():
    propose = Strategies(for_you=["a1"], also_viewed=["a1", "b1", "b2"], trending=["b3"])
    chosen = select(
        chain_of("for_you", "also_viewed"),
        rules(3),
        exclude={"x"},
        propose=propose,
        facts_for=facts_for,
        trending_in=no_trending,
    )
    assert [c.key for c in chosen.items] == ["a1", "b1", "b2"]
    assert chosen.items[0].score > chosen.items[1].score and chosen.used == ["for_you", "also_viewed"]
    assert propose.calls[1][2] == frozenset({"x", "a1"})  # the second tier skips the first tier's items


def test_rules_exclusions_and_a_deeper_second_pass_when_a_category_cap_thins_the_list():
    propose = Strategies(for_you=[f"a{i}" for i in range(10)] + ["b1"])
    chosen = select(
        chain_of("for_you", "trending"),
        rules(3, max_per_category=1, excluded={"a0"}),
        exclude={"a0"},
        propose=propose,
        facts_for=facts_for,
        trending_in=no_trending,
    )
    # 9 asked first (a1..a9): the cap keeps one A; trending has nothing; the second pass asks 100 and finds b1
    assert [c.key for c in chosen.items] == ["a1", "b1"]
    assert [(name, k) for name, k, _ in propose.calls] == [
        ("for_you", 9),
        ("trending", 9),
        ("for_you", 100),
        ("trending", 100),
    ]


def test_pins_apply_even_when_no_strategy_has_anything():
    ruleset = RuleSet(pins=[(1, "b5", "", "Staff pick")])
    chosen = select(
        chain_of("for_you", "trending"),
        rules(2, ruleset=ruleset),
        exclude=set(),
        propose=Strategies(),
        facts_for=facts_for,
        trending_in=no_trending,
    )
    assert [(c.key, c.reason) for c in chosen.items] == [("b5", "Staff pick")] and chosen.used == []


def test_a_category_pin_takes_trending_items_of_the_category_with_their_facts():
    ruleset = RuleSet(pins=[(1, "", "B", "")])
    chosen = select(
        chain_of("for_you", "trending"),
        rules(2, ruleset=ruleset),
        exclude=set(),
        propose=Strategies(for_you=["a1", "a2"]),
        facts_for=facts_for,
        trending_in=lambda category, exclude: [("b7", 3.0)] if category == "B" else [],
    )
    assert [c.key for c in chosen.items] == ["b7", "a1"] and chosen.facts["b7"]["category"] == "B"


def test_exclusions_and_anchors_follow_the_placement():
    state = ShopperState(cart=["c1", "c2"], purchased={"p1"}, recent={"r1": 2.0, "r2": 1.0})
    placement = SimpleNamespace(exclude_viewed=True, exclude_purchased=True, exclude_in_cart=True)
    assert excluded_items(placement, state, "page", ["x"], known_shopper=True) == {"page", "x", "p1", "c1", "c2"}
    assert excluded_items(placement, state, "", [], known_shopper=False) == {"c1", "c2"}
    assert anchors_for("product", "also_bought", "page", state) == ({"page": 1.0}, True)
    assert anchors_for("cart", "for_you", "", state) == ({"c1": 1.0, "c2": 1.0}, False)
    assert anchors_for("home", "similar", "", state) == ({"r1": 2.0, "r2": 1.0}, False)
    assert anchors_for("home", "for_you", "", state) == ({}, False)


@pytest.mark.parametrize(
    "pairs, tier, expected",
    [
        ([], 2.0, []),
        ([("a", 5.0), ("b", 1.0)], 2.0, [("a", 3.0), ("b", 2.1)]),
        ([("a", 1.0), ("b", 1.0)], 0.0, [("a", 0.1), ("b", 0.1)]),
    ],
)
def test_scores_are_mapped_into_their_tier(pairs, tier, expected):
    mapped = candidates.normalised(pairs, tier)
    assert [k for k, _ in mapped] == [k for k, _ in expected]
    assert [s for _, s in mapped] == pytest.approx([s for _, s in expected])
