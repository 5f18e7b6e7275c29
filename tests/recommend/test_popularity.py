"""Trending: time decay, per category, inactive items, the shared cache."""

import pytest
from django.core.cache import cache

from ecom_ai.models import Item
from ecom_ai.recommend import popularity
from tests.recommend.conftest import key

pytestmark = pytest.mark.django_db
DAY = 24 * 60


def test_recent_events_outweigh_more_but_older_ones(shop, add_events):
    # item 1: 6 views three weeks ago; item 2: 2 views today; item 3: 1 purchase (weight 5) today
    add_events(
        [(f"a{i}", "view", shop[1], 21 * DAY) for i in range(6)]
        + [(f"b{i}", "view", shop[2], 60) for i in range(2)]
        + [("c", "purchase", shop[3], 60)]
    )
    table = popularity.compute_trending()
    scores = dict(table.overall)
    assert table.overall[0][0] == key(shop[3])
    assert scores[key(shop[2])] > scores[key(shop[1])] > 0
    assert scores[key(shop[2])] == pytest.approx(2 * 0.5 ** (0.5 / 7), rel=1e-6)
    assert scores[key(shop[1])] == pytest.approx(6 * 0.5 ** (21.5 / 7), rel=1e-6)
    assert [k for k, _ in table.by_category["Cat A"][:3]] == [key(shop[n]) for n in (3, 2, 1)]
    assert popularity.trending(1, category="Cat A", exclude={key(shop[3])}) == [(key(shop[2]), scores[key(shop[2])])]
    # items without events fill up, after the scored ones, as new arrivals
    assert set(table.new_arrivals) == {key(p) for n, p in shop.items() if n not in (1, 2, 3, 4)}


def test_events_outside_the_window_and_inactive_items_do_not_count(shop, add_events):
    add_events([("a", "view", shop[5], 40 * DAY), ("b", "view", shop[6], 60)])
    Item.objects.filter(key=key(shop[6])).update(is_active=False)
    table = popularity.compute_trending()
    assert key(shop[5]) not in dict(table.overall) or key(shop[5]) in table.new_arrivals
    assert key(shop[6]) not in dict(table.overall)


def test_table_is_shared_through_the_cache(shop, add_events):
    add_events([("a", "view", shop[5], 60)])
    first = popularity.trending_table()
    assert isinstance(cache.get(popularity.SHARED_CACHE_KEY), popularity.TrendingTable)
    popularity._tables.clear()  # another process: reads the shared copy instead of recomputing
    cache.set(popularity.SHARED_CACHE_KEY, popularity.TrendingTable(overall=[("zz", 1.0)]))
    assert popularity.trending_table().overall == [("zz", 1.0)]
    assert first.overall[0][0] == key(shop[5])
