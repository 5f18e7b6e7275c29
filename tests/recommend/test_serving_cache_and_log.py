"""Serving without round trips: the item facts cache and the buffered log of served lists."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

import ecom_ai
from ecom_ai import signals
from ecom_ai.conf import validate
from ecom_ai.events.identity import identify
from ecom_ai.models import Event, Item, RecommendationList
from ecom_ai.recommend import facts, logwriter
from ecom_ai.recommend.service import Identity, RecommendationService
from tests.recommend.conftest import key

pytestmark = pytest.mark.django_db
svc = RecommendationService()


@pytest.fixture
def buffered(rec_settings, monkeypatch):
    """RECOMMEND_LOG_MODE = "buffered" without the daemon thread: the test flushes itself
    (the thread's own connection could not see the test's uncommitted rows)."""
    rec_settings(RECOMMEND_LOG_MODE="buffered")
    monkeypatch.setattr(logwriter.writer, "autostart", False)
    logwriter.writer._buffer.clear()
    yield logwriter.writer
    logwriter.writer._buffer.clear()


def inserts(queries, table):
    # bulk_create's INSERT, or COPY on PostgreSQL (ecom_ai.events.copy_insert)
    return [q for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "COPY")) and table in q["sql"]]


# --------------------------------------------------------------------------- item facts cache


def test_facts_are_read_once_then_served_from_the_process_cache(shop):
    keys = [key(shop[1]), key(shop[4]), "unknown-key"]
    first = facts.item_facts(keys)
    assert first[key(shop[4])]["in_stock"] is False and first[key(shop[1])]["title"] == "Item 1"
    assert "unknown-key" not in first
    with CaptureQueriesContext(connection) as queries:
        again = facts.item_facts(keys)  # unknown keys are remembered too
    assert again == first
    assert not [q for q in queries if "ecom_ai_item" in q["sql"]]


def test_a_stock_change_through_the_catalog_sync_is_seen_by_the_next_list(shop):
    shop[4].stock = 5
    shop[4].save()  # host save -> sync_item -> item_synced -> this process drops its facts
    recs = svc.recommend(Identity(visitor_key="v"), "home", limit=12)
    assert key(shop[4]) in recs.keys
    shop[2].stock = 0
    shop[2].save()
    assert facts.item_facts([key(shop[2])])[key(shop[2])]["in_stock"] is False
    recs = svc.recommend(Identity(visitor_key="v"), "home", limit=12)
    assert key(shop[2]) not in recs.keys and key(shop[4]) in recs.keys


def test_another_process_drops_its_facts_when_the_shared_version_moves(shop, monkeypatch):
    other = facts.FactsCache()  # stands for another web process: the local clear does not reach it
    item = key(shop[1])
    assert other.get_many([item])[item]["in_stock"] is True
    Item.objects.filter(key=item).update(in_stock=False)  # behind everyone's back: no signal
    assert other.get_many([item])[item]["in_stock"] is True  # stale, within the TTL
    before = cache.get(facts.VERSION_KEY)
    facts.bump_version()  # what the item_synced receiver does in the writing process
    assert cache.get(facts.VERSION_KEY) != before
    assert other.get_many([item])[item]["in_stock"] is True  # checked at most once per second...
    monkeypatch.setattr(facts, "VERSION_CHECK_SECONDS", 0.0)
    assert other.get_many([item])[item]["in_stock"] is False  # ...then it re-reads


def test_the_version_is_bumped_again_when_the_sync_transaction_commits(shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        shop[3].stock = 0
        shop[3].save()
        bumped = cache.get(facts.VERSION_KEY)
    assert callbacks  # a second bump waits for the commit
    for callback in callbacks:
        callback()
    assert cache.get(facts.VERSION_KEY) != bumped


def test_item_save_and_delete_bump_the_version(shop):
    before = cache.get(facts.VERSION_KEY)
    item = Item.objects.get(key=key(shop[5]))
    item.in_stock = False
    item.save()
    after_save = cache.get(facts.VERSION_KEY)
    assert after_save != before
    item.delete()
    assert cache.get(facts.VERSION_KEY) != after_save


def test_entries_expire_after_the_ttl(shop, rec_settings):
    rec_settings(RECOMMEND_ITEM_FACTS_CACHE_SECONDS=0.05)
    item = key(shop[1])
    assert facts.item_facts([item])[item]["in_stock"] is True
    Item.objects.filter(key=item).update(in_stock=False)  # no signal: only the TTL bounds it
    assert facts.item_facts([item])[item]["in_stock"] is True
    time.sleep(0.1)
    assert facts.item_facts([item])[item]["in_stock"] is False


def test_the_cache_is_bounded_lru_and_can_be_turned_off(shop, rec_settings):
    rec_settings(RECOMMEND_ITEM_FACTS_CACHE_SIZE=3)
    keys = [key(shop[n]) for n in range(1, 7)]
    facts.item_facts(keys)
    assert len(facts._cache) == 3
    facts.item_facts([keys[3]])  # most recently used stays
    facts.item_facts([keys[0]])
    assert keys[3] in facts._cache._entries and keys[0] in facts._cache._entries
    rec_settings(RECOMMEND_ITEM_FACTS_CACHE_SECONDS=0)
    facts.clear_cache()
    with CaptureQueriesContext(connection) as queries:
        facts.item_facts([keys[0]])
        facts.item_facts([keys[0]])
    assert len([q for q in queries if "ecom_ai_item" in q["sql"]]) == 2
    assert len(facts._cache) == 0


# --------------------------------------------------------------------------- buffered log


def test_buffered_lists_are_written_in_bulk_on_flush(shop, buffered):
    identify("v-user", "u-7")  # the impression's user_key is filled from the visitor's identity
    recorded = []

    def receiver(sender, events, **kwargs):
        recorded.extend(events)

    with CaptureQueriesContext(connection) as during:
        served = [svc.recommend(Identity(visitor_key=v), "home", limit=3) for v in ("v1", "v2", "v-user")]
    assert not inserts(during, "ecom_ai_recommendationlist") and not inserts(during, "ecom_ai_event")
    assert logwriter.pending() == 3 and not RecommendationList.objects.exists()

    signals.events_recorded.connect(receiver)
    try:
        with CaptureQueriesContext(connection) as flushing:
            assert logwriter.flush() == 3
    finally:
        signals.events_recorded.disconnect(receiver)
    assert len(inserts(flushing, "ecom_ai_recommendationlist")) == 1  # one bulk insert for the lists
    assert len(inserts(flushing, "ecom_ai_event")) == 1  # and one for the impressions
    assert logwriter.pending() == 0
    stored = {lst.pk: lst for lst in RecommendationList.objects.all()}
    assert set(stored) == {r.id for r in served}
    assert all(stored[r.id].item_keys == r.keys for r in served)
    impressions = Event.objects.filter(event_type="impression").order_by("visitor_key")
    assert [e.visitor_key for e in impressions] == ["v-user", "v1", "v2"]
    assert impressions[0].user_key == "u-7" and impressions[0].source == "recommend"
    assert {e.context["rec_id"] for e in impressions} == {str(r.id) for r in served}
    by_id = {str(pk): lst for pk, lst in stored.items()}
    for e in impressions:  # the time the list was served, not the flush's
        assert e.occurred_at == by_id[e.context["rec_id"]].created_at
    assert sorted(e.pk for e in recorded) == sorted(e.pk for e in impressions)  # events_recorded sent


def test_a_failing_flush_rolls_back_the_whole_batch_retries_once_then_drops(shop, buffered, monkeypatch, caplog):
    svc.recommend(Identity(visitor_key="a"), "home", limit=2)
    svc.recommend(Identity(visitor_key="b"), "home", limit=2)

    def broken(events, source):  # the lists are already inserted when the events fail
        raise RuntimeError("database went away")

    monkeypatch.setattr("ecom_ai.events.tracking.write_events", broken)
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        assert logwriter.flush() == 0  # never raises
    assert not RecommendationList.objects.exists() and not Event.objects.exists()  # nothing half-written
    assert logwriter.pending() == 2  # kept for one more try
    assert "could not store 2 served recommendation list(s)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        assert logwriter.flush() == 0
    assert logwriter.pending() == 0 and "2 served list(s) dropped" in caplog.text
    assert not RecommendationList.objects.exists()


def test_a_retried_batch_is_stored_whole_once_the_database_is_back(shop, buffered, monkeypatch):
    from ecom_ai.events import tracking

    served = svc.recommend(Identity(visitor_key="a"), "home", limit=2)
    real = tracking.write_events
    monkeypatch.setattr(tracking, "write_events", lambda events, source: (_ for _ in ()).throw(RuntimeError("x")))
    logwriter.flush()
    monkeypatch.setattr(tracking, "write_events", real)
    assert logwriter.flush() == 1
    assert RecommendationList.objects.get().pk == served.id
    assert Event.objects.get(event_type="impression").context["rec_id"] == str(served.id)


def test_a_click_after_the_flush_is_attributed(shop, buffered, committed):
    recs = svc.recommend(Identity(visitor_key="c1"), "home", limit=3)
    logwriter.flush()
    with committed():
        ecom_ai.track("click", visitor_key="c1", item_key=recs.keys[1], context={"rec_id": str(recs.id)})
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1


def test_attribution_waits_for_the_commit_and_never_flushes_in_the_request(shop, buffered, committed):
    recs = svc.recommend(Identity(visitor_key="c2"), "home", limit=3)
    svc.recommend(Identity(visitor_key="someone-else"), "home", limit=3)
    logwriter.flush()
    mine = svc.recommend(Identity(visitor_key="c2"), "home", limit=3)  # waits in the buffer
    with committed():
        ecom_ai.track("add_to_cart", visitor_key="c2", item_key=recs.keys[0])  # no rec_id: latest stored list
        assert RecommendationList.objects.get(pk=recs.id).add_to_carts == 0  # not before the commit
    assert logwriter.pending() == 1  # the request wrote no one's lists
    assert RecommendationList.objects.get(pk=recs.id).add_to_carts == 1
    assert not RecommendationList.objects.filter(pk=mine.id).exists()


def test_a_click_on_a_list_still_buffered_is_retried_by_the_task(shop, buffered, committed, attribution_worker):
    other = logwriter.LogWriter(autostart=False)  # another web process's buffer
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logwriter, "writer", other)
        recs = svc.recommend(Identity(visitor_key="c3"), "home", limit=3)
    with committed():
        ecom_ai.track("click", visitor_key="c3", item_key=recs.keys[0], context={"rec_id": str(recs.id)})
    assert attribution_worker.run() == 1  # the task ran at once: the list is not stored yet
    assert not RecommendationList.objects.exists() and attribution_worker.run(after=2.0) == 0  # two flush intervals
    other.flush()  # the other process writes its buffer...
    assert attribution_worker.run(after=0.6) == 1  # ...and the retry finds the list
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1 and not attribution_worker.sent
    # a rec id nobody ever served, for an item no list showed: retried once, then forgotten
    unseen = next(key(p) for p in shop.values() if key(p) not in recs.keys)
    with committed():
        ecom_ai.track("click", visitor_key="c3", item_key=unseen, context={"rec_id": str(uuid.uuid4())})
    assert attribution_worker.run() == 1 and attribution_worker.run(after=2.5) == 1 and not attribution_worker.sent
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1


def test_sync_mode_writes_in_the_request(shop, rec_settings):
    rec_settings(RECOMMEND_LOG_MODE="sync")
    recs = svc.recommend(Identity(visitor_key="s"), "home", limit=2)
    assert logwriter.pending() == 0
    assert RecommendationList.objects.get().pk == recs.id
    assert Event.objects.get(event_type="impression").context["rec_id"] == str(recs.id)


def test_a_refused_impression_keeps_the_list(shop, buffered, caplog):
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        recs = svc.recommend(Identity(visitor_key="x", channel="no-such-channel"), "home", limit=2)
    logwriter.flush()
    assert RecommendationList.objects.get().pk == recs.id and not Event.objects.exists()
    assert "impression" in caplog.text


def test_full_buffer_drops_new_lists_instead_of_growing(shop, buffered, monkeypatch, caplog):
    monkeypatch.setattr(logwriter, "MAX_PENDING", 2)
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        for v in "abc":
            svc.recommend(Identity(visitor_key=v), "home", limit=1)
    assert logwriter.pending() == 2 and "log buffer is full" in caplog.text


def test_exit_and_celery_task_end_flush_the_buffer(shop, buffered):
    from types import SimpleNamespace

    from ecom_ai.tasks.recommend import _flush_served_lists

    svc.recommend(Identity(visitor_key="e1"), "home", limit=1)
    logwriter._flush_at_exit()
    assert RecommendationList.objects.count() == 1
    svc.recommend(Identity(visitor_key="e2"), "home", limit=1)
    _flush_served_lists(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))  # inline: the thread's job
    assert logwriter.pending() == 1
    _flush_served_lists(task=SimpleNamespace(request=SimpleNamespace(is_eager=False)))  # a worker's task ended
    assert RecommendationList.objects.count() == 2


def test_a_forked_child_does_not_inherit_the_parents_buffer(shop, buffered, monkeypatch):
    svc.recommend(Identity(visitor_key="f"), "home", limit=1)
    monkeypatch.setattr(logwriter.writer, "_pid", -1)  # as seen from a child process after fork
    assert logwriter.flush() == 0 and logwriter.pending() == 0
    assert not RecommendationList.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_daemon_thread_flushes_within_the_interval(shop, rec_settings):
    rec_settings(RECOMMEND_LOG_MODE="buffered", RECOMMEND_LOG_FLUSH_SECONDS=0.05)
    writer = logwriter.writer
    try:
        recs = svc.recommend(Identity(visitor_key="t"), "home", limit=2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not RecommendationList.objects.filter(pk=recs.id).exists():
            time.sleep(0.05)
        assert RecommendationList.objects.filter(pk=recs.id).exists()
        assert Event.objects.filter(event_type="impression", visitor_key="t").exists()
    finally:
        writer.stop()
        writer.flush()


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "name, value",
    [
        ("RECOMMEND_LOG_MODE", "async"),
        ("RECOMMEND_LOG_MODE", None),
        ("RECOMMEND_LOG_FLUSH_SECONDS", 0),
        ("RECOMMEND_LOG_FLUSH_SECONDS", 61),
        ("RECOMMEND_LOG_FLUSH_SECONDS", "1"),
        ("RECOMMEND_LOG_BATCH_SIZE", 0),
        ("RECOMMEND_LOG_BATCH_SIZE", True),
        ("RECOMMEND_LOG_BATCH_SIZE", 2.5),
        ("RECOMMEND_ITEM_FACTS_CACHE_SECONDS", -1),
        ("RECOMMEND_ITEM_FACTS_CACHE_SECONDS", 3601),
        ("RECOMMEND_ITEM_FACTS_CACHE_SIZE", 0),
        ("RECOMMEND_ITEM_FACTS_CACHE_SIZE", "100"),
    ],
)
def test_bad_serving_settings_are_refused(name, value):
    problems = validate({name: value})
    assert len(problems) == 1 and name in problems[0]


@pytest.mark.parametrize(
    "name, value",
    [
        ("RECOMMEND_LOG_MODE", "buffered"),
        ("RECOMMEND_LOG_MODE", "sync"),
        ("RECOMMEND_LOG_FLUSH_SECONDS", 0.25),
        ("RECOMMEND_LOG_BATCH_SIZE", 1),
        ("RECOMMEND_ITEM_FACTS_CACHE_SECONDS", 0),
        ("RECOMMEND_ITEM_FACTS_CACHE_SIZE", 1_000_000),
    ],
)
def test_good_serving_settings_pass(name, value):
    assert validate({name: value}) == []


def test_the_default_log_mode_is_buffered():
    from ecom_ai.conf import DEFAULTS

    assert DEFAULTS["RECOMMEND_LOG_MODE"] == "buffered"


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_a_click_on_a_list_still_buffered_is_retried_in_process(shop, rec_settings, monkeypatch):
    """No broker (eager tasks): the click's list reaches the database a moment later; a timer
    thread in this process tries again after two flush intervals and credits it."""
    rec_settings(RECOMMEND_LOG_MODE="buffered", RECOMMEND_LOG_FLUSH_SECONDS=0.2)
    mine = logwriter.LogWriter(autostart=False)  # flushed by the test, not by a daemon thread
    monkeypatch.setattr(logwriter, "writer", mine)
    recs = svc.recommend(Identity(visitor_key="c4"), "home", limit=3)
    ecom_ai.track("click", visitor_key="c4", item_key=recs.keys[0], context={"rec_id": str(recs.id)})
    assert not RecommendationList.objects.filter(pk=recs.id).exists()  # tried at once: nothing to credit
    mine.flush()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not RecommendationList.objects.filter(pk=recs.id, clicks=1).exists():
        time.sleep(0.1)
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1
    time.sleep(1.0)  # no second credit from a later try
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1
