"""The serving caches: shoppers' history and served lists, both in the shared cache.

Most tests run against the real Redis (``settings.REDIS_TEST_URL``) as Django's default
cache, with a key prefix of their own (removed afterwards), because both caches are only
on with a shared backend. Each test's prefix is new, so no list, token or history of
another test can be read: nothing has to be cleared between tests. The tests' default
cache (LocMem) keeps both caches off.

"Another process" is simulated by dropping this process's own state (its placement
configs, its item facts): the shared cache, and with it the stored lists, stays.

Two tests were written as failing cases of problems found while porting these tests to
the shared list cache (a sub-second ``RECOMMEND_LIST_CACHE_SECONDS`` storing nothing, a
rule's time window not ending a stored list), fixed since.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import ecom_ai
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.conf import validate
from ecom_ai.events.identity import identify
from ecom_ai.events.privacy import erase_user_data
from ecom_ai.events.tracking import record_batch
from ecom_ai.models import Event, Experiment, Item, Placement, PlacementRule, RecommendationList, Variant
from ecom_ai.recommend import facts, history_cache, list_cache, logwriter
from ecom_ai.recommend.service import (
    Identity,
    RecommendationService,
    clear_placement_cache,
    get_placement_config,
)
from tests.recommend.conftest import key, seed_trending, update_home

pytestmark = pytest.mark.django_db
svc = RecommendationService()
ME = Identity(visitor_key="me")


# --------------------------------------------------------------------------- fixtures / helpers


def _redis_caches(prefix, location=None):
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location or django_settings.REDIS_TEST_URL,
            "KEY_PREFIX": prefix,
        }
    }


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(django_settings.REDIS_TEST_URL)
    yield client
    client.close()


@pytest.fixture
def use_redis(settings, redis_client):
    """use_redis() makes the real Redis Django's default cache, under a key prefix of this
    test only (its keys are deleted afterwards); returns the prefix."""
    prefixes = []

    def use():
        prefix = f"ecom_ai_test_{uuid.uuid4().hex[:12]}"
        prefixes.append(prefix)
        settings.CACHES = _redis_caches(prefix)
        return prefix

    yield use
    for prefix in prefixes:
        keys = list(redis_client.scan_iter(f"{prefix}:*"))
        if keys:
            redis_client.delete(*keys)


@pytest.fixture
def redis_cache(use_redis):
    prefix = use_redis()
    assert history_cache.enabled() and list_cache.enabled()
    return prefix


def full_key(prefix, cache_key):
    """The Redis key of a Django cache key (Django's default KEY_FUNCTION, version 1)."""
    return f"{prefix}:1:{cache_key}"


def stored_lists(client, prefix):
    """The Redis keys of the served lists stored under ``prefix``."""
    return sorted(k.decode() for k in client.scan_iter(full_key(prefix, list_cache.PREFIX) + "*"))


@pytest.fixture
def list_keys(monkeypatch):
    """The list cache keys the service computes, in order (``list_cache.make_key`` recorded)."""
    made = []
    make_key = list_cache.make_key

    def recording(parts):
        made.append(make_key(parts))
        return made[-1]

    monkeypatch.setattr(list_cache, "make_key", recording)
    return made


@pytest.fixture
def trending_shop(shop, add_events, rec_settings):
    """Home lists are plain trending lists: 12, 11, ..., 1 (item 4 is out of stock)."""
    rec_settings()  # ACTIVE_MODEL_CHECK_SECONDS=0, artifacts in a temp folder
    return seed_trending(shop, add_events)


def another_process():
    """What another web process does not share with this one: placement configs, item facts."""
    clear_placement_cache()
    facts.clear_cache()


def keys_of(shop, *numbers):
    return [key(shop[n]) for n in numbers]


def home(who=ME, limit=4, **kwargs):
    return svc.recommend(who, "home", limit=limit, **kwargs)


def event_selects(queries):
    return [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT") and "ecom_ai_event" in q["sql"]]


def history_reads(queries):
    """The shopper's history query (``service.fetch_history``): the latest events first."""
    return [q for q in event_selects(queries) if '"occurred_at" DESC' in q["sql"] and "GROUP BY" not in q["sql"]]


def served(call, *, all_queries=False):
    """(result, history SELECTs, list cache hits delta, misses delta) of one call."""
    before = list_cache.stats()
    with CaptureQueriesContext(connection) as queries:
        result = call()
    after = list_cache.stats()
    reads = list(queries) if all_queries else history_reads(queries)
    return result, reads, after["hits"] - before["hits"], after["misses"] - before["misses"]


@pytest.fixture
def buffered(rec_settings, monkeypatch):
    """The buffered log without its thread: the test flushes (as in test_serving_cache_and_log)."""
    rec_settings(RECOMMEND_LOG_MODE="buffered")
    monkeypatch.setattr(logwriter.writer, "autostart", False)
    logwriter.writer._buffer.clear()
    yield logwriter.writer
    logwriter.writer._buffer.clear()


# --------------------------------------------------------------------------- 1. reuse


def test_a_second_list_without_a_new_event_is_reused_as_a_new_stored_list(trending_shop, redis_cache, redis_client):
    shop = trending_shop
    first, reads, hits, misses = served(lambda: home())
    assert first.keys == keys_of(shop, 12, 11, 10, 9)
    assert (hits, misses) == (0, 1) and len(reads) == 1  # computed: the history was read once
    assert len(stored_lists(redis_client, redis_cache)) == 1  # kept in the shared cache

    second, queries, hits, misses = served(lambda: home(), all_queries=True)
    assert (hits, misses) == (1, 0)
    assert event_selects(queries) == []  # neither the history query nor anything else on the event table
    assert second.keys == first.keys and [tuple(i) for i in second.items] == [tuple(i) for i in first.items]
    assert second.strategy == first.strategy and second.id != first.id
    assert [p.pk for p in second.products] == [shop[n].pk for n in (12, 11, 10, 9)]

    stored = {row.pk: row for row in RecommendationList.objects.all()}  # sync log mode in the tests
    assert set(stored) == {first.id, second.id}
    assert stored[second.id].item_keys == second.keys and stored[second.id].visitor_key == "me"
    impressions = Event.objects.filter(event_type="impression", visitor_key="me")
    assert sorted(e.context["rec_id"] for e in impressions) == sorted([str(first.id), str(second.id)])
    assert len(stored_lists(redis_client, redis_cache)) == 1  # a reuse stores nothing new


def test_another_process_gets_the_stored_list(trending_shop, redis_cache, list_keys):
    """The list is shared: another web process (its own placement configs and item facts,
    the same Redis) reuses it, with the same key (the placement's fingerprint, not a
    per-process serial)."""
    ecom_ai.track("purchase", visitor_key="me", item_key=key(trending_shop[12]))
    fingerprint = get_placement_config("home").fingerprint
    first, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1) and len(reads) == 1
    another_process()
    assert get_placement_config("home").fingerprint == fingerprint  # reloaded: the same rows, the same print
    again, queries, hits, misses = served(lambda: home(), all_queries=True)
    assert (hits, misses) == (1, 0) and event_selects(queries) == []
    assert again.keys == first.keys == keys_of(trending_shop, 11, 10, 9, 8) and again.id != first.id
    assert list_keys[0] == list_keys[1]
    assert RecommendationList.objects.filter(pk__in=[first.id, again.id]).count() == 2


def test_a_placement_created_while_serving_has_the_fingerprint_other_processes_load(shop, rec_settings, redis_cache):
    """The process that creates a default placement on first use keys its lists like the others."""
    rec_settings()
    assert not Placement.objects.filter(slug="email").exists()
    created = get_placement_config("email")
    another_process()
    assert get_placement_config("email").fingerprint == created.fingerprint


def test_a_hit_costs_one_cache_round_trip(trending_shop, redis_cache, monkeypatch, list_keys, rec_settings):
    """The stored list comes with the shopper's tokens and state in one MGET: no other cache call
    (the active model and the facts version are checked now and then, not per list)."""
    rec_settings(ACTIVE_MODEL_CHECK_SECONDS=3600)
    monkeypatch.setattr(facts, "VERSION_CHECK_SECONDS", 3600.0)
    home()
    reads, calls = [], []
    get_many = history_cache._get_many
    monkeypatch.setattr(history_cache, "_get_many", lambda keys: reads.append(list(keys)) or get_many(keys))
    for name in ("get", "get_many", "set", "add", "delete", "delete_many", "incr", "set_many", "has_key"):
        method = getattr(RedisCacheClient, name)
        monkeypatch.setattr(
            RedisCacheClient,
            name,
            lambda self, *a, _name=name, _method=method, **kw: calls.append(_name) or _method(self, *a, **kw),
        )
    _, _, hits, _ = served(lambda: home())
    assert hits == 1
    assert len(reads) == 1 and list_keys[-1] in reads[0]
    assert calls == []


def test_the_list_key_covers_limit_anchor_exclusions_and_channel(trending_shop, redis_cache):
    shop = trending_shop
    home()
    hits_before = list_cache.stats()["hits"]
    for call in (
        lambda: home(limit=3),
        lambda: home(exclude=[key(shop[12])]),
        lambda: home(item=shop[1]),
        lambda: home(channel="app"),
    ):
        result, _, hits, misses = served(call)
        assert (hits, misses) == (0, 1)
    assert home(exclude=[key(shop[12])]).keys == keys_of(shop, 11, 10, 9, 8)  # a hit, still without 12
    assert home(limit=3).keys == keys_of(shop, 12, 11, 10)
    assert list_cache.stats()["hits"] - hits_before == 2


def test_placements_limits_anchors_and_shoppers_have_keys_of_their_own(
    trending_shop, redis_cache, redis_client, list_keys
):
    shop = trending_shop
    calls = [
        lambda: home(),
        lambda: home(limit=5),
        lambda: home(item=shop[1]),
        lambda: home(item=shop[2]),
        lambda: home(exclude=[key(shop[3])]),
        lambda: home(Identity(visitor_key="someone-else")),
        lambda: home(Identity(visitor_key="me", user_key="u9")),
        lambda: svc.recommend(ME, "email", limit=4),
        lambda: svc.recommend(ME, "cart", limit=4),
        lambda: svc.recommend(ME, "product", item=shop[1], limit=4),
    ]
    first = [served(call) for call in calls]
    assert all((hits, misses) == (0, 1) for _, _, hits, misses in first)
    assert len(set(list_keys)) == len(calls)  # each list under a key of its own
    assert len(stored_lists(redis_client, redis_cache)) == len(calls)
    assert len({get_placement_config(slug).fingerprint for slug in ("home", "email", "cart", "product")}) == 4

    again = [served(call) for call in calls]
    assert all((hits, misses) == (1, 0) for _, _, hits, misses in again)
    assert [r.keys for r, *_ in again] == [r.keys for r, *_ in first]
    assert [r.placement.slug for r, *_ in again] == ["home"] * 7 + ["email", "cart", "product"]
    assert list_keys[len(calls) :] == list_keys[: len(calls)]


def test_changing_one_served_list_does_not_change_the_next(trending_shop, redis_cache):
    computed = home()
    del computed.items[3:]  # a host trimming the list it was given
    reused = home()
    assert reused.keys == keys_of(trending_shop, 12, 11, 10, 9)
    reused.items.reverse()
    reused.facts.clear()
    again = home()
    assert again.keys == keys_of(trending_shop, 12, 11, 10, 9)
    assert [i["title"] for i in again.as_dict()["items"]] == ["Item 12", "Item 11", "Item 10", "Item 9"]


def test_previews_are_neither_served_from_nor_put_in_the_list_cache(trending_shop, redis_cache, redis_client):
    home()
    preview, _, hits, misses = served(lambda: home(log=False))
    assert (hits, misses) == (0, 0) and preview.keys == keys_of(trending_shop, 12, 11, 10, 9)
    assert not RecommendationList.objects.filter(pk=preview.id).exists()
    home(Identity(visitor_key="previewed"), log=False)
    assert len(stored_lists(redis_client, redis_cache)) == 1  # only the logged list


def test_a_stored_list_has_the_list_cache_seconds_as_its_ttl(
    trending_shop, redis_cache, redis_client, rec_settings, list_keys
):
    rec_settings(RECOMMEND_LIST_CACHE_SECONDS=120)
    home()
    ttl = redis_client.ttl(full_key(redis_cache, list_keys[-1]))
    assert 110 <= ttl <= 120
    assert stored_lists(redis_client, redis_cache) == [full_key(redis_cache, list_keys[-1])]


def test_a_list_is_not_reused_after_its_age_limit(trending_shop, redis_cache, rec_settings):
    rec_settings(RECOMMEND_LIST_CACHE_SECONDS=1)
    home()
    assert served(lambda: home())[2] == 1
    time.sleep(1.1)
    _, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1) and reads == []  # the history itself is still cached
    assert served(lambda: home())[2] == 1  # stored again


def test_a_sub_second_list_cache_seconds_still_keeps_the_list(trending_shop, redis_cache, rec_settings):
    rec_settings(RECOMMEND_LIST_CACHE_SECONDS=0.5)
    assert validate({"RECOMMEND_LIST_CACHE_SECONDS": 0.5}) == [] and list_cache.enabled()
    home()
    assert served(lambda: home())[2] == 1


# --------------------------------------------------------------------------- 2. real-time reaction


def test_a_new_event_through_the_tracking_api_recomputes_the_next_list(trending_shop, redis_cache):
    shop = trending_shop
    assert home().keys == keys_of(shop, 12, 11, 10, 9)
    home()  # cached now
    result = record_batch(
        [{"event_type": "purchase", "visitor_key": "me", "item_key": key(shop[12])}], source="test-api"
    )
    assert result.accepted == 1
    after, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1) and len(reads) == 1  # the history was read again
    assert after.keys == keys_of(shop, 11, 10, 9, 8)  # the purchased item is left out at once

    ecom_ai.track("add_to_cart", visitor_key="me", item_key=key(shop[11]))
    assert home().keys == keys_of(shop, 10, 9, 8, 7)  # the cart's item too
    assert served(lambda: home())[2] == 1
    ecom_ai.track("remove_from_cart", visitor_key="me", item_key=key(shop[11]))
    assert home().keys == keys_of(shop, 11, 10, 9, 8)


def test_an_event_in_this_process_recomputes_the_list_of_another(trending_shop, redis_cache):
    """The event's tokens are deleted in the shared cache: no process reuses the stored list."""
    shop = trending_shop
    home()
    another_process()
    assert served(lambda: home())[2] == 1
    ecom_ai.track("purchase", visitor_key="me", item_key=key(shop[12]))
    another_process()
    after, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1) and len(reads) == 1 and after.keys == keys_of(shop, 11, 10, 9, 8)


def test_an_event_of_the_user_from_another_device_recomputes_a_logged_in_list(trending_shop, redis_cache):
    shop = trending_shop
    me = Identity(visitor_key="web-cookie", user_key="42")
    assert home(me).keys == keys_of(shop, 12, 11, 10, 9)
    home(me)
    ecom_ai.track("purchase", channel="store", visitor_key="card-1", user_key="42", item_key=key(shop[12]))
    after, _, hits, misses = served(lambda: home(me))
    assert (hits, misses) == (0, 1) and after.keys == keys_of(shop, 11, 10, 9, 8)


def test_another_shoppers_event_keeps_my_list_cached(trending_shop, redis_cache):
    home()
    ecom_ai.track("view", visitor_key="someone-else", item_key=key(trending_shop[3]))
    assert served(lambda: home())[2] == 1


def test_a_model_list_reacts_to_the_latest_view_and_keeps_its_model_version(shop, rec_settings, redis_cache):
    from ecom_ai.ml.registry import train_model

    rec_settings(
        TRAINERS={
            "recommender": "tests.recommend.fake_trainer.FakeRecommenderTrainer",
            "cooccurrence": "ecom_ai.recommend.cooccurrence.CooccurrenceTrainer",
        }
    )
    version = train_model(
        "recommender", {"item_keys": [key(p) for p in shop.values()], "order": keys_of(shop, 7, 6, 5, 12)}
    )
    before = home(limit=3)
    assert all(r in ("Trending now", "New arrival") for _, _, r in before.items)
    ecom_ai.track("view", visitor_key="me", item_key=key(shop[9]))
    after = home(limit=3)
    assert after.keys == keys_of(shop, 7, 6, 5)
    again, _, hits, _ = served(lambda: home(limit=3))
    assert hits == 1 and again.keys == after.keys and again.model_version_id == version.pk
    assert RecommendationList.objects.get(pk=again.id).model_version_id == version.pk


# --------------------------------------------------------------------------- 3. impressions


def test_impressions_written_by_the_log_writer_do_not_invalidate(trending_shop, redis_cache, buffered):
    first = home()
    assert logwriter.flush() == 1
    assert Event.objects.filter(event_type="impression", visitor_key="me").count() == 1
    second, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (1, 0) and reads == []
    assert logwriter.flush() == 1
    third, _, hits, _ = served(lambda: home())
    assert hits == 1
    logwriter.flush()
    assert {row.pk for row in RecommendationList.objects.all()} == {first.id, second.id, third.id}
    assert Event.objects.filter(event_type="impression", visitor_key="me").count() == 3


# --------------------------------------------------------------------------- 4. identity and erasure


def test_identify_invalidates_the_visitor_and_the_user(trending_shop, redis_cache):
    shop = trending_shop
    ecom_ai.track("purchase", visitor_key="other-device", user_key="u1", item_key=key(shop[12]))
    assert home().keys == keys_of(shop, 12, 11, 10, 9)
    home()
    as_user = Identity(visitor_key="me", user_key="u1")
    home(as_user)
    assert served(lambda: home(as_user))[2] == 1

    identify("me", "u1")
    _, _, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1)
    after, reads, hits, misses = served(lambda: home(as_user))
    assert (hits, misses) == (0, 1) and len(reads) == 1
    assert after.keys == keys_of(shop, 11, 10, 9, 8)


def test_identify_makes_the_visitors_anonymous_history_count_for_the_user(trending_shop, redis_cache):
    shop = trending_shop
    user = Identity(visitor_key="laptop", user_key="u2")
    ecom_ai.track("purchase", visitor_key="phone", item_key=key(shop[12]))  # anonymous, another device
    assert home(user).keys == keys_of(shop, 12, 11, 10, 9)
    home(user)
    identify("phone", "u2")  # the phone's events become the user's
    assert home(user).keys == keys_of(shop, 11, 10, 9, 8)


def test_erasure_invalidates_the_erased_shoppers_history(trending_shop, redis_cache):
    shop = trending_shop
    identify("me", "u3")
    me = Identity(visitor_key="me", user_key="u3")
    ecom_ai.track("purchase", visitor_key="me", user_key="u3", item_key=key(shop[12]))
    assert home(me).keys == keys_of(shop, 11, 10, 9, 8)
    assert home(ME).keys == keys_of(shop, 11, 10, 9, 8)
    assert served(lambda: home(me))[2] == 1

    erase_user_data("u3")
    assert not Event.objects.filter(user_key="u3").exclude(event_type="impression").exists()
    for who in (me, ME):
        after, reads, hits, misses = served(lambda who=who: home(who))
        assert (hits, misses) == (0, 1) and len(reads) == 1
        assert after.keys == keys_of(shop, 12, 11, 10, 9)  # the erased purchase no longer counts


def test_erasure_invalidates_a_shared_visitor_that_saw_the_erased_events(trending_shop, redis_cache):
    shop = trending_shop
    identify("family-pc", "u5")
    identify("family-pc", "u6")  # two users on one computer: erasure keeps the visitor's link
    ecom_ai.track("purchase", visitor_key="family-pc", user_key="u5", item_key=key(shop[12]))
    pc = Identity(visitor_key="family-pc")  # logged out
    assert home(pc).keys == keys_of(shop, 11, 10, 9, 8)  # u5's purchase counts for the computer
    assert served(lambda: home(pc))[2] == 1
    erase_user_data("u5")
    assert not Event.objects.filter(user_key="u5").exclude(event_type="impression").exists()
    another_process()  # the erasure retired the stored list for every process
    after, _, hits, misses = served(lambda: home(pc))
    assert (hits, misses) == (0, 1) and after.keys == keys_of(shop, 12, 11, 10, 9)  # as without the caches


# --------------------------------------------------------------------------- 5. catalog and rules


def test_a_catalog_change_makes_the_next_list_a_miss(trending_shop, redis_cache):
    shop = trending_shop
    assert home().keys == keys_of(shop, 12, 11, 10, 9)
    home()
    shop[12].stock = 0
    shop[12].save()  # host save -> catalog sync -> item facts version bump
    after, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1) and reads == []  # the shopper's history is still cached
    assert after.keys == keys_of(shop, 11, 10, 9, 8)

    home()
    item = Item.objects.get(key=key(shop[12]))
    item.in_stock = True
    item.save()  # the mirror's own save bumps too
    assert served(lambda: home())[3] == 1
    assert home().keys == keys_of(shop, 12, 11, 10, 9)


def test_a_catalog_change_in_another_process_makes_the_next_list_a_miss(trending_shop, redis_cache, monkeypatch):
    """Another process's bump of the shared facts version (seen here within VERSION_CHECK_SECONDS)."""
    shop = trending_shop
    monkeypatch.setattr(facts, "VERSION_CHECK_SECONDS", 0.0)
    home()
    assert served(lambda: home())[2] == 1
    Item.objects.filter(key=key(shop[12])).update(in_stock=False)  # written by "another process"...
    facts._bump_shared()  # ... which bumps the shared version (this process's facts are not dropped)
    after, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1) and reads == []
    assert after.keys == keys_of(shop, 11, 10, 9, 8)


def test_placement_and_rule_changes_are_applied_at_once_every_time(trending_shop, redis_cache):
    """Each change drops this process's placement config; the reloaded one has a new
    fingerprint (the list key), so the next list follows it. Repeated: each round's
    lists are stored under keys that must not come back."""
    shop = trending_shop
    placement = Placement.objects.get(slug="home")
    stale, prints = [], [get_placement_config("home").fingerprint]

    def check(label, ok):
        prints.append(get_placement_config("home").fingerprint)
        if not ok:
            stale.append((round_, label))

    for round_ in range(8):  # noqa: B007  (check() reads it)
        home()
        home()
        rule = PlacementRule.objects.create(placement=placement, action="exclude", item_key=key(shop[12]))
        check("rule added", home().keys == keys_of(shop, 11, 10, 9, 8))
        home()
        rule.enabled = False
        rule.save()
        check("rule disabled", home().keys == keys_of(shop, 12, 11, 10, 9))
        home()
        rule.enabled = True
        rule.save()
        check("rule enabled", home().keys == keys_of(shop, 11, 10, 9, 8))
        rule.delete()
        check("rule deleted", home().keys == keys_of(shop, 12, 11, 10, 9))
        update_home(exclude_out_of_stock=False)
        check("placement edited", home(limit=12).keys == keys_of(shop, *range(12, 0, -1)))  # 4 is back
        home(limit=12)
        update_home(exclude_out_of_stock=True)
        check("placement edited back", key(shop[4]) not in home(limit=12).keys)
    assert stale == []
    assert all(a != b for a, b in zip(prints, prints[1:]))  # every change, a new fingerprint


def test_an_experiment_is_applied_at_once_and_its_variant_is_in_the_key(trending_shop, redis_cache):
    placement = Placement.objects.get(slug="home")
    home()
    assert served(lambda: home())[2] == 1
    experiment = Experiment.objects.create(placement=placement, name="ab", status=Experiment.Status.RUNNING)
    variant = Variant.objects.create(experiment=experiment, name="only", weight=1, strategy="trending")
    result, _, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1) and result.variant.pk == variant.pk
    result, _, hits, _ = served(lambda: home())
    assert hits == 1 and result.variant.pk == variant.pk
    assert RecommendationList.objects.get(pk=result.id).variant_id == variant.pk

    variant.weight = 3
    variant.save()
    assert served(lambda: home())[3] == 1
    experiment.status = Experiment.Status.STOPPED
    experiment.save()
    # the configuration is the one before the experiment again (the same fingerprint): the
    # list stored then (no variant, the same tokens and facts) is the right list again
    result, _, hits, misses = served(lambda: home())
    assert (hits, misses) == (1, 0) and result.variant is None
    assert result.keys == keys_of(trending_shop, 12, 11, 10, 9)
    assert RecommendationList.objects.get(pk=result.id).variant_id is None


def test_a_rule_that_ends_is_not_applied_to_the_next_list(trending_shop, redis_cache):
    shop = trending_shop
    PlacementRule.objects.create(
        placement=Placement.objects.get(slug="home"),
        action="exclude",
        item_key=key(shop[12]),
        ends_at=timezone.now() + timedelta(seconds=1),
    )
    assert home().keys == keys_of(shop, 11, 10, 9, 8)
    time.sleep(1.1)
    assert home().keys == keys_of(shop, 12, 11, 10, 9)  # without the list cache: the rule has ended


# --------------------------------------------------------------------------- 6. off switches


def test_with_the_per_process_cache_both_caches_are_off(trending_shop):
    assert django_settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")
    assert ecom_settings.RECOMMEND_HISTORY_CACHE == "auto" and not history_cache.enabled()
    first, reads_1, hits, misses = served(lambda: home())
    second, reads_2, hits_2, misses_2 = served(lambda: home())
    assert (hits, misses, hits_2, misses_2) == (0, 0, 0, 0)
    assert len(reads_1) == len(reads_2) == 1  # each list reads the history
    assert second.keys == first.keys == keys_of(trending_shop, 12, 11, 10, 9)
    assert [tuple(i) for i in second.items] == [tuple(i) for i in first.items] and second.id != first.id
    assert not [k for k in cache._cache if history_cache.PREFIX in k or list_cache.PREFIX in k]  # nothing in LocMem


def test_the_history_cache_can_be_forced_on_or_off(trending_shop, rec_settings, use_redis):
    cache.clear()  # the tests' LocMem: no tokens of another test
    rec_settings(RECOMMEND_HISTORY_CACHE=True)
    assert history_cache.enabled()  # even with LocMem (a single process)
    home()
    assert served(lambda: home())[2] == 1
    cache.clear()
    use_redis()
    rec_settings(RECOMMEND_HISTORY_CACHE=False)
    assert not history_cache.enabled()
    _, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 0) and len(reads) == 1  # no tokens: no list reuse either
    rec_settings(RECOMMEND_HISTORY_CACHE="auto", RECOMMEND_HISTORY_CACHE_SECONDS=0)
    assert not history_cache.enabled()


def test_list_cache_seconds_zero_turns_only_the_list_cache_off(trending_shop, redis_cache, rec_settings, redis_client):
    rec_settings(RECOMMEND_LIST_CACHE_SECONDS=0)
    assert not list_cache.enabled() and history_cache.enabled()
    first = home()
    second, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 0) and stored_lists(redis_client, redis_cache) == []
    assert reads == []  # the shopper's history still comes from Redis
    assert second.keys == first.keys


# --------------------------------------------------------------------------- 7. outage


def test_a_redis_outage_serves_lists_from_the_database(trending_shop, settings, caplog, monkeypatch):
    settings.CACHES = _redis_caches("ecom_ai_test_down", location="redis://127.0.0.1:1/0")
    assert history_cache.enabled()
    monkeypatch.setitem(history_cache._warned, "at", float("-inf"))  # no failure logged in the last minute
    shop = trending_shop
    with caplog.at_level(logging.WARNING, logger="ecom_ai.recommend"):
        first, reads, hits, misses = served(lambda: home())
        ecom_ai.track("purchase", visitor_key="me", item_key=key(shop[12]))  # forget() cannot reach Redis
        second, reads_2, _, _ = served(lambda: home())
    assert first.keys == keys_of(shop, 12, 11, 10, 9) and second.keys == keys_of(shop, 11, 10, 9, 8)
    assert len(reads) == len(reads_2) == 1 and (hits, misses) == (0, 0)
    assert "history cache is unavailable" in caplog.text
    assert RecommendationList.objects.filter(pk__in=[first.id, second.id]).count() == 2


def test_an_outage_is_logged_once_a_minute_not_on_every_list(trending_shop, settings, caplog, monkeypatch):
    settings.CACHES = _redis_caches("ecom_ai_test_down", location="redis://127.0.0.1:1/0")
    monkeypatch.setitem(history_cache._warned, "at", float("-inf"))
    with caplog.at_level(logging.WARNING, logger="ecom_ai.recommend"):
        for _ in range(5):
            assert home().keys
    warnings = [r for r in caplog.records if "cache" in r.getMessage() and r.name == "ecom_ai.recommend"]
    assert len(warnings) == 1 and "serving from the database" in warnings[0].getMessage()
    assert len([r for r in caplog.records if r.name == "ecom_ai.cache"]) == 1  # ecom_ai.resilient_cache's
    assert history_cache._warned["suppressed"] >= 4


def test_an_entry_that_cannot_be_read_counts_as_missing(trending_shop, redis_cache):
    import redis
    from django.conf import settings as django_settings

    home()
    client = redis.Redis.from_url(django_settings.REDIS_TEST_URL)
    client.set(f"{redis_cache}:1:{history_cache.token_key('v', 'me')}", b"not a pickle")
    again, reads, hits, misses = served(lambda: home())
    assert again.keys and len(reads) == 1 and (hits, misses) == (0, 1)  # a fresh token, the log read again


def test_a_lost_token_is_never_trusted(trending_shop, redis_cache):
    """An evicted or expired token (or one deleted by another process) means: read the log."""
    home()
    cache.delete(history_cache.token_key("v", "me"))
    _, reads, hits, misses = served(lambda: home())
    assert (hits, misses) == (0, 1) and len(reads) == 1
    assert served(lambda: home())[2] == 1  # fresh tokens, cached again


def test_a_stored_list_of_another_layout_or_tokens_is_ignored(trending_shop, redis_cache, list_keys):
    home()
    tokens = history_cache.read(ME, ecom_settings.RECOMMEND_HISTORY_LENGTH).tokens
    for junk in ("junk", (tokens, "not a list"), (("other", "tokens"), cache.get(list_keys[-1])[1])):
        cache.set(list_keys[-1], junk)
        _, _, hits, misses = served(lambda: home())
        assert (hits, misses) == (0, 1)
    assert served(lambda: home())[2] == 1


# --------------------------------------------------------------------------- 8. settings


@pytest.mark.parametrize(
    "name, value",
    [
        ("RECOMMEND_HISTORY_CACHE", "yes"),
        ("RECOMMEND_HISTORY_CACHE", "Auto"),
        ("RECOMMEND_HISTORY_CACHE", 1),
        ("RECOMMEND_HISTORY_CACHE", None),
        ("RECOMMEND_HISTORY_CACHE_SECONDS", -1),
        ("RECOMMEND_HISTORY_CACHE_SECONDS", 86401),
        ("RECOMMEND_HISTORY_CACHE_SECONDS", "600"),
        ("RECOMMEND_LIST_CACHE_SECONDS", -1),
        ("RECOMMEND_LIST_CACHE_SECONDS", 3601),
        ("RECOMMEND_LIST_CACHE_SECONDS", "30"),
        ("RECOMMEND_LIST_CACHE_SECONDS", True),
    ],
)
def test_bad_cache_settings_are_refused(name, value):
    problems = validate({name: value})
    assert len(problems) == 1 and name in problems[0]


@pytest.mark.parametrize(
    "name, value",
    [
        ("RECOMMEND_HISTORY_CACHE", "auto"),
        ("RECOMMEND_HISTORY_CACHE", True),
        ("RECOMMEND_HISTORY_CACHE", False),
        ("RECOMMEND_HISTORY_CACHE_SECONDS", 0),
        ("RECOMMEND_HISTORY_CACHE_SECONDS", 30.5),
        ("RECOMMEND_LIST_CACHE_SECONDS", 0),
        ("RECOMMEND_LIST_CACHE_SECONDS", 3600),
    ],
)
def test_good_cache_settings_pass(name, value):
    assert validate({name: value}) == []


def test_the_removed_list_cache_size_setting_is_refused(settings):
    """The per-process LRU is gone: its size is an unknown setting now (a leftover fails loudly)."""
    problems = validate({"RECOMMEND_LIST_CACHE_SIZE": 10_000})
    assert len(problems) == 1 and "'RECOMMEND_LIST_CACHE_SIZE'] is not a known setting" in problems[0]
    settings.ECOM_AI = {**settings.ECOM_AI, "RECOMMEND_LIST_CACHE_SIZE": 10_000}
    with pytest.raises(ImproperlyConfigured, match="RECOMMEND_LIST_CACHE_SIZE"):
        list_cache.enabled()


def test_a_bad_history_cache_setting_stops_at_first_use(settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "RECOMMEND_HISTORY_CACHE": "sometimes"}
    with pytest.raises(ImproperlyConfigured, match=r"RECOMMEND_HISTORY_CACHE.*True, False or 'auto'"):
        history_cache.enabled()
