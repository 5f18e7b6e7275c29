"""Placement rules: exclusions, pins, boosts/buries, category caps, date ranges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

import ecom_ai
from ecom_ai.models import Placement, PlacementRule
from ecom_ai.recommend.rules import Candidate, RuleSet, apply_rules
from ecom_ai.recommend.service import Identity, RecommendationService
from tests.recommend.conftest import key, seed_trending, update_home

pytestmark = pytest.mark.django_db
svc = RecommendationService()


@pytest.fixture
def trending_shop(shop, add_events):
    """Trending order 12, 11, ..., 1 (more views for higher numbers)."""
    return seed_trending(shop, add_events)


def home(limit=4, who="me"):
    return svc.recommend(Identity(visitor_key=who), "home", limit=limit)


def rule(**kwargs):
    return PlacementRule.objects.create(placement=Placement.objects.get(slug="home"), **kwargs)


def test_trending_order_and_exclusions_of_purchased_cart_and_out_of_stock(trending_shop):
    shop = trending_shop
    assert home().keys == [key(shop[n]) for n in (12, 11, 10, 9)]
    ecom_ai.track("purchase", visitor_key="me", item_key=key(shop[12]))
    ecom_ai.track("add_to_cart", visitor_key="me", item_key=key(shop[11]))
    assert home().keys == [key(shop[n]) for n in (10, 9, 8, 7)]
    ecom_ai.track("remove_from_cart", visitor_key="me", item_key=key(shop[11]))
    assert home().keys[0] == key(shop[11])
    assert key(shop[4]) not in home(limit=12).keys  # out of stock
    update_home(exclude_out_of_stock=False, exclude_purchased=False)
    keys = home(limit=12).keys
    assert key(shop[4]) in keys and key(shop[12]) in keys


def test_purchases_on_another_channel_of_the_same_user_are_excluded(trending_shop):
    shop = trending_shop
    ecom_ai.track("purchase", channel="store", visitor_key="card", user_key="7", item_key=key(shop[12]))
    recs = svc.recommend(Identity(visitor_key="web", user_key="7"), "home", limit=2)
    assert key(shop[12]) not in recs.keys


def test_pins_go_to_their_positions_and_obey_exclusions(trending_shop):
    shop = trending_shop
    rule(action="pin", item_key=key(shop[1]), position=2, note="Staff pick")
    rule(action="pin", item_key=key(shop[4]), position=1)  # out of stock: not shown
    recs = home()
    assert recs.keys == [key(shop[n]) for n in (12, 1, 11, 10)]
    assert recs.items[1].reason == "Staff pick"


def test_category_pin_takes_the_best_item_of_the_category(trending_shop):
    shop = trending_shop
    rule(action="pin", category="Cat A", position=1)
    assert home().keys == [key(shop[n]) for n in (3, 12, 11, 10)]


def test_boost_and_bury_items_and_categories(trending_shop):
    shop = trending_shop
    rule(action="bury", item_key=key(shop[12]), weight=100)
    rule(action="boost", category="Cat A", weight=100)
    keys = home(limit=5).keys
    assert keys[:3] == [key(shop[n]) for n in (3, 2, 1)]
    assert key(shop[12]) not in keys


def test_at_most_n_per_category(trending_shop):
    shop = trending_shop
    update_home(max_per_category=1)
    assert home(limit=3).keys == [key(shop[n]) for n in (12, 8, 3)]


def test_rules_outside_their_dates_or_disabled_do_nothing(trending_shop):
    shop = trending_shop
    now = timezone.now()
    rule(action="pin", item_key=key(shop[1]), position=1, ends_at=now - timedelta(days=1))
    rule(action="pin", item_key=key(shop[2]), position=1, starts_at=now + timedelta(days=1))
    rule(action="pin", item_key=key(shop[3]), position=1, enabled=False)
    rule(action="exclude", item_key=key(shop[12]))
    assert home(limit=2).keys == [key(shop[11]), key(shop[10])]


def test_rule_validation():
    placement = Placement.objects.create(slug="x", name="X")
    with pytest.raises(ValidationError):
        PlacementRule(placement=placement, action="pin").full_clean()
    with pytest.raises(ValidationError):
        PlacementRule(placement=placement, action="pin", item_key="1", category="A").full_clean()
    now = timezone.now()
    with pytest.raises(ValidationError):
        PlacementRule(placement=placement, action="boost", item_key="1", starts_at=now, ends_at=now).full_clean()


def test_apply_rules_pure():
    cands = [Candidate(str(i), 10 - i, "r") for i in range(6)]
    facts = {str(i): {"category": "odd" if i % 2 else "even", "in_stock": i != 4} for i in range(6)}
    out = apply_rules(
        cands, limit=3, ruleset=RuleSet(), facts=facts, excluded={"0"}, exclude_out_of_stock=True, max_per_category=1
    )
    assert [c.key for c in out] == ["1", "2"]
