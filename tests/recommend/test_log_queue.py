"""RECOMMEND_LOG_MODE = "queue": served lists pushed to Redis, stored by a worker.

Everything runs against the real Redis (``settings.REDIS_TEST_URL``; the queue's and the
lock's keys are deleted before and after each test) and the real database. A failure is
simulated by making one function raise once, never by replacing Redis or the database.
Tests that look at commits (``events_recorded`` after the commit, foreign keys checked at
commit time) or call ``run_worker`` (it closes unusable connections) use a transactional
database.
"""

from __future__ import annotations

import json
import logging
import time
from io import StringIO

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import ecom_ai
from ecom_ai import signals
from ecom_ai.conf import validate
from ecom_ai.events import tracking as events_writer  # writes the lists with their impressions
from ecom_ai.events.identity import identify
from ecom_ai.models import Event, Experiment, Placement, RecommendationList, Variant
from ecom_ai.recommend import log_queue, logwriter
from ecom_ai.recommend.service import Identity, RecommendationService, ensure_default_placements
from tests.recommend.conftest import key

pytestmark = pytest.mark.django_db
svc = RecommendationService()
KEY, LOCK = log_queue.QUEUE_KEY, log_queue.LOCK_KEY  # of the default RECOMMEND_LOG_QUEUE_NAME
OTHER_NAME = "ecom_ai_test:other_shop:served_lists"


# --------------------------------------------------------------------------- fixtures / helpers


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(django_settings.REDIS_TEST_URL)
    keys = (KEY, LOCK, OTHER_NAME, f"{OTHER_NAME}:worker")
    client.delete(*keys)
    yield client
    client.delete(*keys)
    client.close()


@pytest.fixture
def queue(rec_settings, redis_client, monkeypatch):
    """Queue mode on the real Redis; the process buffer without its thread (the test flushes
    itself); the once-a-minute warnings not yet given."""
    rec_settings(RECOMMEND_LOG_MODE="queue", RECOMMEND_LOG_QUEUE_URL=django_settings.REDIS_TEST_URL)
    monkeypatch.setattr(logwriter.writer, "autostart", False)
    monkeypatch.setattr(log_queue, "_warned_at", dict.fromkeys(log_queue._warned_at, float("-inf")))
    monkeypatch.setattr(log_queue, "_down_until", [float("-inf")])  # no Redis failure remembered
    logwriter.writer._buffer.clear()
    yield redis_client
    logwriter.writer._buffer.clear()


def serve(visitor, placement="home", **kwargs):
    return svc.recommend(Identity(visitor_key=visitor), placement, limit=3, **kwargs)


def queued_ids(client):
    return [json.loads(raw)["id"] for raw in client.lrange(KEY, 0, -1)]


def stored_ids():
    return set(RecommendationList.objects.values_list("pk", flat=True))


def fail(monkeypatch, target, name, exc, times=1):
    """``target.name`` raises ``exc`` on its first ``times`` calls, then works again."""
    real = getattr(target, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)
    return calls


def list_inserts(queries):
    # bulk_create's INSERT, or COPY on PostgreSQL (ecom_ai.events.copy_insert)
    return [
        q
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "COPY")) and "ecom_ai_recommendationlist" in q["sql"]
    ]


# --------------------------------------------------------------------------- the worker stores


@pytest.mark.django_db(transaction=True)  # "after the commit" means a real commit
def test_a_served_list_is_one_queued_record_stored_by_drain(shop, queue, rec_settings):
    from ecom_ai.ml.registry import train_model
    from tests.recommend.fake_trainer import PATH

    rec_settings(TRAINERS={"recommender": PATH})
    version = train_model("recommender", {"item_keys": [key(p) for p in shop.values()], "order": [key(shop[5])]})
    ensure_default_placements()
    experiment = Experiment.objects.create(placement=Placement.objects.get(slug="home"), name="ab", status="running")
    Variant.objects.create(experiment=experiment, name="pinned", weight=1, model_version=version)
    identify("v-user", "u-7")  # the impression's user_key comes from the visitor's identity
    ecom_ai.track("view", visitor_key="v-user", item_key=key(shop[9]))
    before = timezone.now()
    served = [serve("v-user"), serve("v-anon", "product", item=shop[1])]
    time.sleep(0.05)
    assert served[0].variant.name == "pinned" and served[0].model_version_id == version.pk
    assert served[1].anchor_item == key(shop[1])

    assert queued_ids(queue) == [str(r.id) for r in served]  # one record per list, in order
    assert json.loads(queue.lindex(KEY, 0))["user"] == ""  # the user is filled in when stored
    assert logwriter.pending() == 0 and not RecommendationList.objects.exists()
    assert not Event.objects.filter(event_type="impression").exists()

    sent = []

    def receiver(sender, events, **kwargs):
        sent.append(([e.pk for e in events], connection.in_atomic_block, len(stored_ids())))

    drained_at = timezone.now()
    signals.events_recorded.connect(receiver)
    try:
        assert log_queue.drain() == 2
    finally:
        signals.events_recorded.disconnect(receiver)
    assert queue.llen(KEY) == 0 and not queue.exists(LOCK)

    impressions = {e.context["rec_id"]: e for e in Event.objects.filter(event_type="impression")}
    assert set(impressions) == {str(r.id) for r in served}
    for result in served:
        row = RecommendationList.objects.get(pk=result.id)
        assert (row.placement_id, row.variant_id, row.strategy, row.anchor_item, row.model_version_id) == (
            result.placement.pk,
            getattr(result.variant, "pk", None),
            result.strategy,
            result.anchor_item,
            result.model_version_id,
        )
        assert row.items == [{"key": i.key, "score": i.score, "reason": i.reason} for i in result.items]
        assert before <= row.created_at < drained_at  # served, not stored, then
        event = impressions[str(result.id)]
        assert event.occurred_at == row.created_at and event.source == "recommend"
        assert event.context["placement"] == result.placement.slug and event.context["items"] == len(result.items)
    assert impressions[str(served[0].id)].user_key == "u-7"
    assert impressions[str(served[0].id)].context["variant"] == "pinned"
    # both impressions announced once, after the commit
    [(announced, in_transaction, lists_visible)] = sent
    assert sorted(announced) == sorted(e.pk for e in impressions.values())
    assert not in_transaction and lists_visible == 2


def test_lists_are_stored_oldest_first_in_batches(shop, queue, rec_settings):
    rec_settings(RECOMMEND_LOG_BATCH_SIZE=2)
    served = [serve(f"o{i}") for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        assert log_queue.drain(max_lists=3) == 3
    assert stored_ids() == {r.id for r in served[:3]}
    assert queued_ids(queue) == [str(r.id) for r in served[3:]]
    assert len(list_inserts(queries)) == 2  # batches of 2: 2 + 1
    assert log_queue.drain() == 2 and log_queue.waiting() == 0
    assert stored_ids() == {r.id for r in served}
    assert Event.objects.filter(event_type="impression").count() == 5


def test_a_list_stored_before_the_worker_was_killed_is_skipped(shop, queue, monkeypatch):
    first, second = serve("k1"), serve("k2")
    # killed after the commit, before LTRIM: both records stay queued
    fail(monkeypatch, log_queue.client(), "ltrim", redis.ConnectionError("killed"))
    with pytest.raises(redis.ConnectionError):
        log_queue.drain()
    assert stored_ids() == {first.id, second.id} and queue.llen(KEY) == 2
    assert not queue.exists(LOCK)
    third = serve("k3")
    queue.rpush(KEY, queue.lindex(KEY, 0))  # and the first record pushed again behind the third
    assert log_queue.drain() == 1  # only the third is new
    assert queue.llen(KEY) == 0 and stored_ids() == {first.id, second.id, third.id}
    assert Event.objects.filter(event_type="impression").count() == 3


def test_the_same_record_twice_in_one_batch_is_stored_once(shop, queue, caplog):
    served = serve("d1")
    queue.rpush(KEY, queue.lindex(KEY, 0))  # e.g. an RPUSH resent after a lost reply
    later = serve("d2")
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        assert log_queue.drain() == 2
    assert queue.llen(KEY) == 0 and stored_ids() == {served.id, later.id}
    assert Event.objects.filter(event_type="impression").count() == 2
    assert not caplog.records  # skipped, not "refused by the database"


def test_an_unreadable_record_is_dropped_with_an_error_naming_it(shop, queue, caplog):
    good = serve("g1")
    record = json.loads(queue.lindex(KEY, 0))
    bad = [
        b"\xff\xfe not json",
        json.dumps({**record, "f": 99}).encode(),
        json.dumps({k: v for k, v in record.items() if k != "items"}).encode(),
        json.dumps({**record, "id": "not-a-uuid"}).encode(),
        json.dumps({**record, "visitor": None}).encode(),  # not stored as the text "None"
        json.dumps({**record, "items": [[1, 0.5, "why"]]}).encode(),
    ]
    queue.rpush(KEY, *bad)
    later = serve("g2")
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        assert log_queue.drain() == 2
    assert stored_ids() == {good.id, later.id} and queue.llen(KEY) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == len(bad)
    for raw, message in zip(bad, errors):
        assert "record dropped" in message and repr(raw[:200]) in message  # the record, up to 200 bytes


@pytest.mark.django_db(transaction=True)  # foreign keys are checked at the commit
def test_a_list_the_database_refuses_is_dropped_and_the_others_stored(shop, queue, caplog):
    ensure_default_placements()
    before = serve("r1")
    doomed = serve("r2", "cart", item=shop[1])
    after = serve("r3")
    Placement.objects.filter(slug="cart").delete()  # after serving: the list's placement is gone
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        assert log_queue.drain() == 2
    assert stored_ids() == {before.id, after.id} and queue.llen(KEY) == 0
    assert {e.context["rec_id"] for e in Event.objects.filter(event_type="impression")} == {
        str(before.id),
        str(after.id),
    }
    assert f"served list {doomed.id} dropped" in caplog.text


@pytest.mark.django_db(transaction=True)  # run_worker closes unusable connections
def test_a_failing_database_leaves_the_batch_queued(shop, queue, monkeypatch, caplog):
    served = [serve(v) for v in ("f1", "f2", "f3")]
    fail(monkeypatch, events_writer, "copy_insert", OperationalError("server closed the connection"), times=2)
    with pytest.raises(DatabaseError):
        log_queue.drain()
    assert queue.llen(KEY) == 3 and not RecommendationList.objects.exists()
    assert not queue.exists(LOCK)
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        assert log_queue.run_worker(once=True) == 0  # logged, not raised
    assert "the database failed" in caplog.text and queue.llen(KEY) == 3
    assert log_queue.drain() == 3 and queue.llen(KEY) == 0
    assert stored_ids() == {r.id for r in served}
    assert Event.objects.filter(event_type="impression").count() == 3


def test_a_second_drainer_gives_way_while_the_lock_is_held(shop, queue):
    served = serve("l1")
    other = queue.lock(LOCK, timeout=30)
    assert other.acquire(blocking=False)
    started = time.monotonic()
    assert log_queue.drain() == 0
    assert time.monotonic() - started < 0.5 and queue.llen(KEY) == 1 and not RecommendationList.objects.exists()
    other.release()
    assert log_queue.drain() == 1 and stored_ids() == {served.id}
    assert not queue.exists(LOCK)


# --------------------------------------------------------------------------- the web side falls back


def test_unreachable_redis_keeps_lists_in_the_process_buffer_one_error(shop, queue, rec_settings, caplog):
    rec_settings(RECOMMEND_LOG_QUEUE_URL="redis://127.0.0.1:1/0")  # nothing listens there
    with caplog.at_level(logging.ERROR, logger="ecom_ai.recommend"):
        served = [serve(v) for v in ("u1", "u2", "u3")]
    assert all(len(r) for r in served) and logwriter.pending() == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "redis://127.0.0.1:1/0" in errors[0] and "cannot be reached" in errors[0]
    assert logwriter.flush() == 3 and stored_ids() == {r.id for r in served}


def test_a_full_queue_sends_lists_to_the_process_buffer(shop, queue, rec_settings, caplog):
    rec_settings(RECOMMEND_LOG_QUEUE_MAX=2)
    with caplog.at_level(logging.WARNING, logger="ecom_ai.recommend"):
        served = [serve(v) for v in ("m1", "m2", "m3", "m4")]
    assert queued_ids(queue) == [str(r.id) for r in served[:2]]
    assert [p.row.pk for p in logwriter.writer._buffer] == [r.id for r in served[2:]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "RECOMMEND_LOG_QUEUE_MAX" in warnings[0] and "ecom_ai_log_worker" in warnings[0]
    assert log_queue.drain() + logwriter.flush() == 4 and stored_ids() == {r.id for r in served}


def test_a_push_whose_reply_was_lost_costs_no_other_list(shop, queue, monkeypatch):
    client = log_queue.client()
    real = client.register_script(log_queue.PUSH_BELOW_MAX)

    def lost_reply(**kwargs):
        real(**kwargs)  # Redis queued it, but the reply never came back
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setitem(log_queue._scripts, id(client), lost_reply)
    twice, buffered = serve("p1"), serve("p2")  # the second skips the queue: Redis just failed
    assert queued_ids(queue) == [str(twice.id)] and logwriter.pending() == 2  # queued and kept
    assert log_queue.drain() == 1  # the worker stores it first...
    logwriter.flush()  # ...then the web process writes its buffer, leaving it out
    assert stored_ids() == {twice.id, buffered.id} and logwriter.pending() == 0
    assert Event.objects.filter(event_type="impression").count() == 2


def test_after_a_redis_failure_lists_skip_the_queue_for_a_few_seconds(shop, queue, monkeypatch):
    client = log_queue.client()
    calls = []

    def failing(**kwargs):
        calls.append(1)
        raise redis.ConnectionError("refused")

    monkeypatch.setitem(log_queue._scripts, id(client), failing)
    serve("s1"), serve("s2"), serve("s3")
    assert len(calls) == 1 and logwriter.pending() == 3  # one try, not one connect timeout per request
    monkeypatch.setattr(log_queue, "_down_until", [time.monotonic() - 1])  # the pause is over
    monkeypatch.delitem(log_queue._scripts, id(client))
    serve("s4")
    assert queue.llen(KEY) == 1


def test_the_queue_name_setting_is_used(shop, queue, rec_settings):
    rec_settings(RECOMMEND_LOG_QUEUE_NAME=OTHER_NAME)  # two shops sharing one Redis
    served = serve("n1")
    assert queue.llen(OTHER_NAME) == 1 and queue.llen(KEY) == 0
    assert log_queue.drain() == 1 and queue.llen(OTHER_NAME) == 0 and stored_ids() == {served.id}
    assert not queue.exists(f"{OTHER_NAME}:worker")


# --------------------------------------------------------------------------- worker entry points


@pytest.mark.django_db(transaction=True)  # run_worker closes unusable connections
def test_the_worker_command_once(shop, queue, rec_settings):
    served = [serve("w1"), serve("w2")]
    out = StringIO()
    call_command("ecom_ai_log_worker", "--once", stdout=out)
    assert "Stored 2 served lists; 0 waiting." in out.getvalue()
    assert stored_ids() == {r.id for r in served}
    for interval in ("0", "-1", "61"):
        with pytest.raises(CommandError, match="--interval"):
            call_command("ecom_ai_log_worker", "--once", "--interval", interval)
    rec_settings(RECOMMEND_LOG_MODE="buffered", RECOMMEND_LOG_QUEUE_URL="")
    with pytest.raises(CommandError, match="RECOMMEND_LOG_QUEUE_URL"):
        call_command("ecom_ai_log_worker", "--once")


def test_the_celery_task_drains_in_process(shop, queue, rec_settings):
    from ecom_ai.tasks.recommend import drain_served_lists

    served = [serve("e1"), serve("e2"), serve("e3")]
    assert drain_served_lists(max_lists=2) == 2 and queue.llen(KEY) == 1
    assert drain_served_lists() == 1 and stored_ids() == {r.id for r in served}
    serve("e4")
    rec_settings(RECOMMEND_LOG_MODE="buffered", RECOMMEND_LOG_QUEUE_URL="")
    assert drain_served_lists() == 0 and queue.llen(KEY) == 1  # no queue configured: nothing to do


@pytest.mark.celery
def test_the_celery_task_drains_on_the_real_worker(shop, queue, celery_worker):
    from ecom_ai.tasks.recommend import drain_served_lists

    served = [serve("c1"), serve("c2")]
    result = drain_served_lists.apply_async(queue=celery_worker["queue"], ignore_result=False)
    assert result.get(timeout=30) == 2
    assert stored_ids() == {r.id for r in served} and queue.llen(KEY) == 0


# --------------------------------------------------------------------------- attribution


def test_a_click_on_a_queued_list_is_credited_once_the_worker_stored_it(shop, queue, committed, attribution_worker):
    recs = serve("c1")
    with committed():
        ecom_ai.track("click", visitor_key="c1", item_key=recs.keys[0], context={"rec_id": str(recs.id)})
    assert attribution_worker.run() == 1  # after the commit: the list is still queued
    assert not RecommendationList.objects.exists() and attribution_worker.run(after=2.0) == 0  # two flush intervals
    assert log_queue.drain() == 1  # the worker stores the list meanwhile...
    assert attribution_worker.run(after=0.6) == 1  # ...and the retry finds it
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1 and not attribution_worker.sent


def test_a_click_on_a_list_the_worker_stores_late_is_tried_again(shop, queue, committed, attribution_worker):
    recs = serve("c2")
    with committed():
        ecom_ai.track("click", visitor_key="c2", item_key=recs.keys[0], context={"rec_id": str(recs.id)})
    assert attribution_worker.run() == 1 and attribution_worker.run(after=2.5) == 1  # the worker is behind
    assert len(attribution_worker.sent) == 1  # tried again later (10 s, then 30 s, then 60 s)
    assert attribution_worker.run(after=9) == 0
    assert log_queue.drain() == 1
    assert attribution_worker.run(after=1.1) == 1
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1 and not attribution_worker.sent


def test_a_click_whose_list_never_comes_is_given_up_after_four_tries(shop, queue, committed, attribution_worker):
    recs = serve("c3")
    queue.delete(KEY)  # the list is lost (e.g. Redis flushed)
    with committed():
        ecom_ai.track("click", visitor_key="c3", item_key=recs.keys[0], context={"rec_id": str(recs.id)})
    assert attribution_worker.run() == 1
    for _ in range(4):
        assert attribution_worker.run(after=61) == 1
    assert not attribution_worker.sent


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "name, value",
    [
        ("RECOMMEND_LOG_QUEUE_URL", "http://x"),
        ("RECOMMEND_LOG_QUEUE_URL", "redis:/x"),
        ("RECOMMEND_LOG_QUEUE_URL", "127.0.0.1:6379"),
        ("RECOMMEND_LOG_QUEUE_URL", 5),
        ("RECOMMEND_LOG_QUEUE_URL", None),
        ("RECOMMEND_LOG_QUEUE_MAX", 0),
        ("RECOMMEND_LOG_QUEUE_MAX", 100_000_001),
        ("RECOMMEND_LOG_QUEUE_MAX", 2.5),
        ("RECOMMEND_LOG_QUEUE_MAX", True),
        ("RECOMMEND_LOG_MODE", "Queue"),
        ("RECOMMEND_LOG_QUEUE_NAME", ""),
        ("RECOMMEND_LOG_QUEUE_NAME", "x" * 201),
    ],
)
def test_bad_queue_settings_are_refused(name, value):
    problems = validate({name: value})
    assert len(problems) == 1 and name in problems[0]


@pytest.mark.parametrize(
    "values",
    [
        {"RECOMMEND_LOG_QUEUE_URL": ""},
        {"RECOMMEND_LOG_QUEUE_URL": "rediss://cache.example:6380/1"},
        {"RECOMMEND_LOG_QUEUE_URL": "unix:///run/redis.sock"},
        {"RECOMMEND_LOG_QUEUE_MAX": 1},
        {"RECOMMEND_LOG_QUEUE_MAX": 100_000_000},
        {"RECOMMEND_LOG_MODE": "queue", "RECOMMEND_LOG_QUEUE_URL": "redis://127.0.0.1:6379/0"},
    ],
)
def test_good_queue_settings_pass(values):
    assert validate(values) == []


@pytest.mark.parametrize("url", [None, ""])
def test_queue_mode_without_a_url_is_refused(url):
    values = (
        {"RECOMMEND_LOG_MODE": "queue"}
        if url is None
        else {"RECOMMEND_LOG_MODE": "queue", "RECOMMEND_LOG_QUEUE_URL": url}
    )
    problems = validate(values)
    assert len(problems) == 1 and "RECOMMEND_LOG_QUEUE_URL" in problems[0] and "'queue'" in problems[0]
