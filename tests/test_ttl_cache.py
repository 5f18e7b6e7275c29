"""ecom_ai.ttl_cache: the per-process cache that serving's in-memory tables are built on."""

import threading
import time

from django.db.models.signals import post_save
from django.dispatch import Signal
from django.test import override_settings

from ecom_ai.ttl_cache import TTLCache, clear_all


def test_values_are_served_until_the_ttl_then_loaded_again():
    cache = TTLCache("t.ttl", ttl=0.05)
    loads = []
    assert cache.get_or_set("k", lambda: loads.append(1) or "v1") == "v1"
    assert cache.get_or_set("k", lambda: loads.append(1) or "v2") == "v1"
    time.sleep(0.06)
    assert cache.get_or_set("k", lambda: loads.append(1) or "v3") == "v3"
    assert len(loads) == 2 and (cache.hits, cache.misses) == (1, 2)


def test_the_ttl_is_read_on_every_lookup_and_zero_turns_the_cache_off():
    seconds = {"ttl": 60.0}
    cache = TTLCache("t.callable", ttl=lambda: seconds["ttl"])
    cache.set("k", "v")
    assert cache.get("k") == "v"
    seconds["ttl"] = 0
    assert cache.get("k") is None
    cache.set("k", "w")
    assert len(cache) == 1 and cache.get("k") is None  # nothing new is stored while off


def test_least_recently_used_entries_go_first():
    cache = TTLCache("t.lru", ttl=60, maxsize=lambda: 2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.set("c", 3)
    assert cache.get_many(["a", "b", "c"]) == ({"a": 1, "c": 3}, ["b"])


def test_signals_and_the_ecom_ai_setting_clear_it():
    changed = Signal()
    cache = TTLCache("t.signals", ttl=60, clear_on=[changed, (post_save, TTLCache)])
    cache.set("k", "v")
    changed.send(sender=None)
    assert cache.get("k") is None
    cache.set("k", "v")
    post_save.send(sender=TTLCache, instance=None, created=False)
    assert cache.get("k") is None
    cache.set("k", "v")
    post_save.send(sender=object, instance=None, created=False)  # another sender: kept
    assert cache.get("k") == "v"
    with override_settings(ECOM_AI={}):
        assert cache.get("k") is None
    cache.set("k", "v")
    clear_all()
    assert cache.get("k") is None


def test_a_load_that_raced_with_a_clear_is_not_stored():
    cache = TTLCache("t.race", ttl=60)

    def load():
        cache.clear()  # an invalidation arrives while the old value is being read
        return "old"

    assert cache.get_or_set("k", load) == "old"  # the caller gets what it read...
    assert cache.get("k") is None  # ...but the cache does not keep it


def test_single_flight_lets_one_thread_load_while_the_others_wait():
    cache = TTLCache("t.flight", ttl=60)
    calls, start = [], threading.Barrier(4)

    def load():
        calls.append(1)
        time.sleep(0.05)
        return "v"

    def worker():
        start.wait()
        assert cache.get_or_set("k", load, single_flight=True) == "v"

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
