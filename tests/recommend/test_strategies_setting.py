"""Strategies are pluggable by dotted path (``RECOMMEND_STRATEGIES``), like ``TRAINERS``."""

from __future__ import annotations

import logging

import pytest
from django.core.checks import run_checks

from ecom_ai.recommend.rules import Candidate
from ecom_ai.recommend.service import Identity, RecommendationService, ensure_default_placements
from tests.recommend.conftest import key, update_home

pytestmark = pytest.mark.django_db
svc = RecommendationService()
HERE = "tests.recommend.test_strategies_setting"


def staff_picks(ctx, k):
    """A shop's own strategy: the items titled "Item 2" and "Item 12", minus the context's exclusions."""
    from ecom_ai.models import Item

    keys = list(Item.objects.filter(title__in=["Item 2", "Item 12"]).order_by("key").values_list("key", flat=True))
    return [Candidate(i, 1.0, "Staff pick", "staff_picks") for i in keys if i not in ctx.exclude][:k]


def test_a_shop_replaces_a_built_in_strategy_and_keeps_the_others(shop, rec_settings):
    rec_settings(RECOMMEND_STRATEGIES={"trending": f"{HERE}.staff_picks"})
    ensure_default_placements()
    update_home(strategy="trending", fallback_strategy="trending", max_per_category=None)
    recs = svc.recommend(Identity(visitor_key="v"), "home", limit=3)
    assert sorted(recs.keys) == sorted([key(shop[2]), key(shop[12])]) and {i.reason for i in recs.items} == {
        "Staff pick"
    }
    from ecom_ai.conf import settings as ecom_settings

    assert ecom_settings.RECOMMEND_STRATEGIES["for_you"].endswith("strategy_for_you")  # merged, not replaced


def test_a_new_strategy_name_serves_lists(shop, rec_settings):
    rec_settings(RECOMMEND_STRATEGIES={"staff_picks": f"{HERE}.staff_picks"})
    ensure_default_placements()
    update_home(strategy="staff_picks", fallback_strategy="trending", max_per_category=None)
    recs = svc.recommend(Identity(visitor_key="v"), "home", limit=4)
    assert set(recs.keys[:2]) == {key(shop[2]), key(shop[12])} and recs.strategy == "staff_picks+trending"


def test_a_strategy_that_cannot_be_imported_is_a_check_error_and_serves_trending(shop, rec_settings, caplog):
    rec_settings(RECOMMEND_STRATEGIES={"for_you": "no.such.module.function"})
    errors = [e for e in run_checks() if e.id == "ecom_ai.E040"]
    assert len(errors) == 1 and "'for_you'" in errors[0].msg
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        recs = svc.recommend(Identity(visitor_key="v"), "home", limit=3)
    assert len(recs.items) == 3 and "cannot be imported" in caplog.text
