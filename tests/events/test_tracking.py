from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError
from django.test import RequestFactory
from django.utils import timezone

import ecom_ai
from ecom_ai import signals
from ecom_ai.events import tracking
from ecom_ai.events.tracking import BatchRejected, record_batch, track
from ecom_ai.events.validation import EventValidationError
from ecom_ai.models import Event, VisitorIdentity

pytestmark = pytest.mark.django_db


def make_request(visitor="vis-1", user=None):
    request = RequestFactory().get("/")
    request.ecom_ai_visitor = visitor
    request.user = user or AnonymousUser()
    return request


# --- track() ----------------------------------------------------------------------------
def test_track_takes_visitor_and_user_from_the_request(users):
    alice, _, _ = users
    event = ecom_ai.track("view", request=make_request("v-alice", alice), item_key="42")
    event.refresh_from_db()
    assert (event.event_type, event.channel, event.visitor_key, event.user_key, event.item_key) == (
        "view",
        "web",
        "v-alice",
        str(alice.pk),
        "42",
    )
    assert event.source == "python"


def test_track_anonymous_request_has_no_user():
    event = track("add_to_cart", request=make_request("v-anon"), item_key="7", quantity=2, value="19.999")
    assert event.user_key == "" and event.visitor_key == "v-anon"
    assert event.quantity == 2 and event.value == Decimal("20.00")


def test_track_explicit_arguments_win_over_the_request(users):
    alice, bob, _ = users
    event = track("view", request=make_request("v1", alice), visitor_key="pos-card-9", user=bob, channel="store")
    assert (event.visitor_key, event.user_key, event.channel) == ("pos-card-9", str(bob.pk), "store")


def test_track_client_time_becomes_occurred_at():
    when = timezone.now() - timedelta(hours=3)
    event = track("view", visitor_key="v", client_time=when.isoformat())
    assert event.occurred_at == when and event.client_time == when


def test_track_skips_staff_unless_track_staff(users, settings):
    _, _, staff = users
    assert track("view", request=make_request("v-staff", staff)) is None
    assert not Event.objects.exists()
    settings.ECOM_AI = {**settings.ECOM_AI, "TRACK_STAFF": True}
    assert track("view", request=make_request("v-staff", staff)) is not None
    assert Event.objects.get().user_key == str(staff.pk)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"event_type": "teleport"}, "event_type"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"quantity": "two"}, "quantity"),
        ({"value": "cheap"}, "value"),
        ({"context": ["not", "a", "dict"]}, "context"),
        ({"client_time": "2026-01-01T00:00:00"}, "client_time"),
        ({"item_key": "x" * 192}, "item_key"),
        ({"client_event_id": "x" * 65}, "client_event_id"),
    ],
)
def test_track_rejects_bad_input_with_a_clear_error(kwargs, field):
    event_type = kwargs.pop("event_type", "view")
    with pytest.raises(EventValidationError) as info:
        track(event_type, visitor_key="v", **kwargs)
    assert field in info.value.errors
    assert not Event.objects.exists()


def test_track_is_idempotent_on_client_event_id():
    first = track("view", visitor_key="v", client_event_id="abc")
    assert first is not None
    assert track("view", visitor_key="v", client_event_id="abc") is None
    assert Event.objects.count() == 1
    # another source may use the same id
    assert track("view", visitor_key="v", client_event_id="abc", source="pos") is not None


def test_track_fills_user_from_a_known_identity():
    VisitorIdentity.objects.create(visitor_key="v-known", user_key="u-1", last_seen=timezone.now() - timedelta(days=2))
    VisitorIdentity.objects.create(visitor_key="v-known", user_key="u-2")  # the latest link wins
    assert track("view", visitor_key="v-known").user_key == "u-2"
    assert track("view", visitor_key="v-other").user_key == ""
    assert track("view", visitor_key="v-known", user_key="u-9").user_key == "u-9"


def test_events_recorded_signal_is_sent():
    received = []

    def receiver(sender, events, **kwargs):
        received.append([e.pk for e in events])

    signals.events_recorded.connect(receiver)
    try:
        event = track("view", visitor_key="v")
        record_batch([{"event_type": "view", "visitor_key": "v"}] * 2, source="pos")
    finally:
        signals.events_recorded.disconnect(receiver)
    assert received[0] == [event.pk]
    assert len(received[1]) == 2 and all(received[1])


# --- record_batch() ----------------------------------------------------------------------
def test_record_batch_is_all_or_nothing():
    result = record_batch(
        [
            {"event_type": "view", "visitor_key": "v1"},
            {"event_type": "nope", "visitor_key": "v1"},
            {"event_type": "view", "visitor_key": "v1", "colour": "red"},
        ],
        source="pos",
    )
    assert set(result.errors) == {1, 2}
    assert "event_type" in result.errors[1]
    assert result.errors[2] == {"colour": "unknown field"}
    assert result.accepted == 0 and not Event.objects.exists()


def test_record_batch_counts_duplicates_in_the_batch_and_across_batches():
    batch = [
        {"event_type": "view", "visitor_key": "v", "client_event_id": "e1"},
        {"event_type": "view", "visitor_key": "v", "client_event_id": "e1"},
        {"event_type": "view", "visitor_key": "v", "client_event_id": "e2"},
        {"event_type": "view", "visitor_key": "v"},
    ]
    first = record_batch(batch, source="pos")
    assert (first.accepted, first.duplicates) == (3, 1)
    again = record_batch(batch, source="pos")
    assert (again.accepted, again.duplicates) == (1, 3)  # only the event without an id is new
    assert Event.objects.filter(client_event_id="e1").count() == 1


def test_record_batch_survives_a_concurrent_writer(monkeypatch):
    """Another request stored the same id between our check and our insert."""
    Event.objects.create(event_type="view", channel="web", visitor_key="v", source="pos", client_event_id="race")
    real = tracking._existing_ids
    calls = []

    def stale_then_real(source, ids):
        calls.append(1)
        return set() if len(calls) == 1 else real(source, ids)

    monkeypatch.setattr(tracking, "_existing_ids", stale_then_real)
    result = record_batch(
        [
            {"event_type": "view", "visitor_key": "v", "client_event_id": "race"},
            {"event_type": "view", "visitor_key": "v", "client_event_id": "new"},
        ],
        source="pos",
    )
    assert (result.accepted, result.duplicates) == (1, 1)
    assert len(calls) == 2
    assert Event.objects.filter(source="pos").count() == 2


def test_record_batch_gives_up_on_a_persistent_integrity_error(monkeypatch):
    Event.objects.create(event_type="view", channel="web", visitor_key="v", source="pos", client_event_id="x")
    monkeypatch.setattr(tracking, "_existing_ids", lambda source, ids: set())
    with pytest.raises(IntegrityError):
        record_batch([{"event_type": "view", "visitor_key": "v", "client_event_id": "x"}], source="pos")


def test_record_batch_rejects_non_lists_and_oversize_batches(settings):
    with pytest.raises(BatchRejected):
        record_batch({"event_type": "view"}, source="pos")
    settings.ECOM_AI = {**settings.ECOM_AI, "MAX_BATCH_SIZE": 2}
    with pytest.raises(BatchRejected) as info:
        record_batch([{"event_type": "view", "visitor_key": "v"}] * 3, source="pos")
    assert info.value.too_large


def test_record_batch_needs_a_visitor_or_user_from_server_senders():
    result = record_batch([{"event_type": "view"}], source="pos")
    assert "visitor_key" in result.errors[0]


def test_record_batch_extra_event_types_and_channels(settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "EXTRA_EVENT_TYPES": ["wishlist_share"], "EXTRA_CHANNELS": ["kiosk"]}
    result = record_batch([{"event_type": "wishlist_share", "channel": "kiosk", "visitor_key": "v"}], source="k")
    assert result.accepted == 1


def test_record_batch_writes_with_few_queries(django_assert_max_num_queries):
    batch = [
        {"event_type": "view", "visitor_key": f"v{i % 7}", "item_key": str(i), "client_event_id": f"id{i}"}
        for i in range(300)
    ]
    # identities lookup, duplicate lookup, savepoint, insert(s) (SQLite splits them by its
    # variable limit), release: a constant, not one query per event
    with django_assert_max_num_queries(10):
        result = record_batch(batch, source="pos")
    assert result.accepted == 300
