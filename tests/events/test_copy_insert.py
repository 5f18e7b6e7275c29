"""``copy_insert``: PostgreSQL's COPY for event and list batches, bulk_create elsewhere."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ecom_ai.events.copy_insert import copy_insert
from ecom_ai.models import Event, Placement, RecommendationList

pytestmark = pytest.mark.django_db


def events(n, **extra):
    now = timezone.now()
    return [
        Event(
            event_type="purchase",
            channel="web",
            visitor_key=f"v{i}",
            item_key=f"i{i}",
            quantity=i + 1,
            value=Decimal("12.50"),
            context={"n": i, "text": 'tab\tnew\nline \\ quote" ünï'},
            occurred_at=now,
            received_at=now,
            **extra,
        )
        for i in range(n)
    ]


def test_rows_come_back_as_written_with_their_keys():
    written = copy_insert(Event, events(3) + [Event(event_type="view", channel="app", occurred_at=timezone.now())])
    assert all(e.pk for e in written) and len({e.pk for e in written}) == 4
    assert all(not e._state.adding for e in written)
    stored = {e.pk: e for e in Event.objects.all()}
    for e in written:
        s = stored[e.pk]
        assert (s.event_type, s.channel, s.visitor_key, s.item_key, s.quantity, s.value, s.context) == (
            e.event_type,
            e.channel,
            e.visitor_key,
            e.item_key,
            e.quantity,
            e.value,
            e.context,
        )
    blank = stored[written[-1].pk]
    assert blank.quantity is None and blank.value is None and blank.context == {} and blank.visitor_key == ""
    assert stored[written[0].pk].context["text"] == 'tab\tnew\nline \\ quote" ünï'
    # the table's own sequence moved past the keys taken: a normal insert does not collide
    later = Event.objects.create(event_type="view", channel="web")
    assert later.pk > max(e.pk for e in written)


def test_uuid_keys_foreign_keys_and_json_lists():
    placement = Placement.objects.create(slug="cp", name="Copy")
    rows = [
        RecommendationList(
            id=uuid.uuid4(),
            placement=placement,
            visitor_key="v",
            strategy="trending",
            items=[{"key": "1", "score": 0.5, "reason": "r"}],
            created_at=timezone.now(),
        )
        for _ in range(2)
    ]
    copy_insert(RecommendationList, rows)
    stored = RecommendationList.objects.order_by("created_at")
    assert {r.pk for r in stored} == {r.pk for r in rows}
    assert all(r.placement_id == placement.pk and r.items[0]["key"] == "1" for r in stored)


def test_an_empty_batch_writes_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert copy_insert(Event, []) == []
    assert not queries.captured_queries


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_postgresql_uses_copy_and_shows_it_like_a_query():
    with CaptureQueriesContext(connection) as queries:
        copy_insert(Event, events(5))
    copies = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("COPY")]
    assert len(copies) == 1 and '"ecom_ai_event"' in copies[0] and copies[0].endswith("-- 5 rows")
    assert not [q for q in queries.captured_queries if q["sql"].upper().startswith("INSERT")]


def test_a_constraint_error_is_djangos_and_leaves_nothing_of_the_batch():
    batch = events(2, source="shop", client_event_id="same")  # one (source, client_event_id) twice
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            copy_insert(Event, batch)
    assert not Event.objects.exists()


def test_values_of_other_types_are_prepared_as_bulk_create_would():
    placement = Placement.objects.create(slug="cp2", name="Copy 2")
    naive = timezone.now().replace(tzinfo=None)

    def odd_rows():  # values Django converts: an int for text, text for numbers, a uuid as text, a naive time
        return [
            Event(
                event_type="view",
                channel="web",
                visitor_key=12345,
                item_key="i",
                quantity="7",
                value="3.5",
                context=[1, "two"],
                occurred_at=naive,
                received_at=timezone.now(),
                client_event_id=None,
            ),
            RecommendationList(
                id=str(uuid.uuid4()),
                placement_id=str(placement.pk),
                visitor_key="v",
                strategy="trending",
                items=[],
                created_at=timezone.now(),
            ),
        ]

    def stored(objs):
        event = Event.objects.values("visitor_key", "quantity", "value", "context", "occurred_at").get(pk=objs[0].pk)
        lst = RecommendationList.objects.values("id", "placement_id").get(pk=objs[1].pk)
        return event, lst

    with pytest.warns(RuntimeWarning, match="naive datetime"):
        copied = odd_rows()
        copy_insert(Event, copied[:1])
        copy_insert(RecommendationList, copied[1:])
        bulk = odd_rows()
        Event.objects.bulk_create(bulk[:1])
        RecommendationList.objects.bulk_create(bulk[1:])
    (event_a, list_a), (event_b, list_b) = stored(copied), stored(bulk)
    assert event_a == event_b and event_a["visitor_key"] == "12345" and event_a["quantity"] == 7
    assert event_a["value"] == Decimal("3.5") and event_a["context"] == [1, "two"]
    assert list_a["placement_id"] == list_b["placement_id"] == placement.pk
    assert isinstance(list_a["id"], uuid.UUID)
