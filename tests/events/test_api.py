import json
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone

from ecom_ai.events import tracking
from ecom_ai.models import ChannelKey, Event

pytestmark = pytest.mark.django_db


def post(client, url, body, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", headers=headers)


def batch(*events):
    return {"events": list(events)}


VIEW = {"event_type": "view", "item_key": "42"}


def key_headers(raw):
    return {"authorization": f"Api-Key {raw}"}


# --- browsers ---------------------------------------------------------------------------
def test_anonymous_browser_batch_is_stored_with_the_cookie_visitor(make_browser, events_url):
    response = post(make_browser("vis-123"), events_url, batch(VIEW, {**VIEW, "event_type": "click"}))
    assert response.status_code == 201, response.content
    assert response.json() == {"accepted": 2, "duplicates": 0}
    rows = list(Event.objects.values_list("visitor_key", "user_key", "channel", "source"))
    assert rows == [("vis-123", "", "web", "browser")] * 2


def test_browser_without_cookie_gets_one_from_the_middleware(events_url):
    client = Client()
    response = post(client, events_url, batch(VIEW))
    assert response.status_code == 201
    visitor = Event.objects.get().visitor_key
    assert len(visitor) == 32 and "ecom_ai_vid" in response.cookies


def test_logged_in_browser_gets_user_from_session(make_browser, events_url, users):
    alice, _, _ = users
    client = make_browser("vis-alice")
    client.force_login(alice)
    assert post(client, events_url, batch(VIEW)).status_code == 201
    assert Event.objects.get().user_key == str(alice.pk)


@pytest.mark.parametrize("field", ["user_key", "visitor_key"])
def test_browser_may_not_set_user_or_visitor(make_browser, events_url, field, users):
    response = post(make_browser(), events_url, batch({**VIEW, field: "someone-else"}))
    assert response.status_code == 400
    assert field in response.json()["errors"]["0"]
    assert not Event.objects.exists()


def test_staff_browser_traffic_is_not_stored(make_browser, events_url, users):
    _, _, staff = users
    client = make_browser()
    client.force_login(staff)
    response = post(client, events_url, batch(VIEW))
    assert response.status_code == 200 and response.json() == {"accepted": 0, "duplicates": 0}
    assert not Event.objects.exists()


def csrf_browser(make_browser, token=True):
    client = make_browser("vis-csrf", enforce_csrf_checks=True)
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    return client, secret


def test_csrf_is_required_for_anonymous_browsers(make_browser, events_url):
    client, secret = csrf_browser(make_browser)
    response = post(client, events_url, batch(VIEW))
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    response = post(client, events_url, batch(VIEW), x_csrftoken=secret)
    assert response.status_code == 201


def test_csrf_is_required_for_logged_in_browsers(make_browser, events_url, users):
    client, secret = csrf_browser(make_browser)
    client.force_login(users[0])
    assert post(client, events_url, batch(VIEW)).status_code == 403
    assert post(client, events_url, batch(VIEW), x_csrftoken="wrong" * 8).status_code == 403
    assert post(client, events_url, batch(VIEW), x_csrftoken=secret).status_code == 201
    assert not Event.objects.exclude(user_key=str(users[0].pk)).exists()


# --- bad input ----------------------------------------------------------------------------
def iso(delta):
    return (timezone.now() + delta).isoformat()


@pytest.mark.parametrize(
    "event, field",
    [
        ({"event_type": "teleport"}, "event_type"),
        ({"item_key": "1"}, "event_type"),
        ({"event_type": 5}, "event_type"),
        ({"event_type": "view", "channel": "fax"}, "channel"),
        ({"event_type": "view", "client_time": "yesterday"}, "client_time"),
        ({"event_type": "view", "client_time": "2026-01-01T10:00:00"}, "client_time"),
        ({"event_type": "view", "client_time": 1700000000}, "client_time"),
        ({"event_type": "view", "client_time": iso(timedelta(hours=1))}, "client_time"),
        ({"event_type": "view", "client_time": iso(-timedelta(days=400))}, "client_time"),
        ({"event_type": "view", "item_key": "k" * 192}, "item_key"),
        ({"event_type": "view", "item_key": ["a"]}, "item_key"),
        ({"event_type": "view", "item_key": "a\x00b"}, "item_key"),
        ({"event_type": "view", "quantity": 1.5}, "quantity"),
        ({"event_type": "view", "quantity": True}, "quantity"),
        ({"event_type": "view", "quantity": 10**12}, "quantity"),
        ({"event_type": "view", "value": "1e400"}, "value"),
        ({"event_type": "view", "value": "NaN"}, "value"),
        ({"event_type": "view", "value": {"amount": 1}}, "value"),
        ({"event_type": "view", "context": "a string"}, "context"),
        ({"event_type": "view", "context": {"blob": "x" * 5000}}, "context"),
        ({"event_type": "view", "context": {"nul": "a\x00"}}, "context"),
        ({"event_type": "view", "client_event_id": "i" * 65}, "client_event_id"),
        ({"event_type": "view", "client_event_id": ""}, "client_event_id"),
        ({"event_type": "view", "price": 3}, "price"),
        ({"event_type": "view", "value": 10**15}, "value"),
    ],
)
def test_bad_event_gets_400_with_the_field_and_nothing_is_stored(make_browser, events_url, event, field):
    response = post(make_browser(), events_url, batch(VIEW, event))
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == ["1"] and field in errors["1"], errors
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "event, field",
    [
        ('{"event_type": "view", "item_key": "\\ud800"}', "item_key"),
        ('{"event_type": "view", "client_event_id": "\\udfff-x"}', "client_event_id"),
        ('{"event_type": "view", "context": {"q": "\\ud800"}}', "context"),
        ('{"event_type": "view", "context": {"\\ud800": 1}}', "context"),
        ('{"event_type": "view", "context": ' + "[" * 50 + "]" * 50 + "}", "context"),
    ],
)
def test_text_the_database_cannot_store_is_a_400(make_browser, events_url, event, field):
    response = post(make_browser(), events_url, '{"events": [' + event + "]}")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]["0"]


def test_unicode_text_is_fine(make_browser, events_url):
    response = post(
        make_browser(), events_url, batch({"event_type": "search", "item_key": "Größe-鞋", "context": {"q": "näh 🧵"}})
    )
    assert response.status_code == 201
    assert Event.objects.get().context == {"q": "näh 🧵"}


def test_event_that_is_not_an_object(make_browser, events_url):
    response = post(make_browser(), events_url, batch(VIEW, "view"))
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]["1"]


def test_every_bad_event_is_reported(make_browser, events_url):
    response = post(make_browser(), events_url, batch({"event_type": "x"}, VIEW, {"event_type": "view", "foo": 1}))
    assert set(response.json()["errors"]) == {"0", "2"}


@pytest.mark.parametrize(
    "body, status",
    [
        ("{not json", 400),
        ("[1, 2]", 400),
        ('"events"', 400),
        ('{"events": {"event_type": "view"}}', 400),
        ('{"events": "view"}', 400),
        ('{"evnts": []}', 400),
        ('{"events": [], "extra": 1}', 400),
        ("", 400),
        ('{"events": ' + "[" * 100000 + "]" * 100000 + "}", 400),
        (b'{"events": [{"event_type": "view", "item_key": "\xff\xfe"}]}', 400),
        ('{"events": [{"event_type": NaN}]}', 400),
    ],
)
def test_malformed_bodies_get_400(make_browser, events_url, body, status):
    response = post(make_browser(), events_url, body)
    assert response.status_code == status, response.content
    assert response.json()["detail"]


def test_oversize_batch_gets_413(make_browser, events_url, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "MAX_BATCH_SIZE": 3}
    response = post(make_browser(), events_url, batch(*[VIEW] * 4))
    assert response.status_code == 413 and "at most 3" in response.json()["detail"]
    assert post(make_browser(), events_url, batch(*[VIEW] * 3)).status_code == 201


def test_oversize_body_gets_413(make_browser, events_url, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "MAX_BATCH_SIZE": 1, "MAX_CONTEXT_BYTES": 10}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    # the body limit is sized for a valid batch however JSON-escaped (6 bytes per character)
    response = post(make_browser(), events_url, batch({**VIEW, "context": {"x": "y" * 7000}}))
    assert response.status_code == 413 and "bytes" in response.json()["detail"]


def test_form_posts_are_refused(make_browser, events_url):
    response = make_browser().post(events_url, data={"events": "x"})
    assert response.status_code == 415


def test_empty_batch_is_fine(make_browser, events_url):
    response = post(make_browser(), events_url, batch())
    assert response.status_code == 200 and response.json() == {"accepted": 0, "duplicates": 0}


def test_database_failure_is_503_not_500(make_browser, events_url, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(tracking, "write_events", broken)
    response = post(make_browser(), events_url, batch(VIEW))
    assert response.status_code == 503


# --- idempotency -------------------------------------------------------------------------
def test_same_batch_twice_is_counted_once(make_browser, events_url):
    body = batch({**VIEW, "client_event_id": "a"}, {**VIEW, "client_event_id": "b"}, {**VIEW, "client_event_id": "a"})
    client = make_browser()
    first = post(client, events_url, body)
    assert first.status_code == 201 and first.json() == {"accepted": 2, "duplicates": 1}
    second = post(client, events_url, body)
    assert second.status_code == 200 and second.json() == {"accepted": 0, "duplicates": 3}
    assert Event.objects.count() == 2


def test_good_events_of_a_rejected_batch_can_be_resent(make_browser, events_url):
    client = make_browser()
    bad = batch({**VIEW, "client_event_id": "a"}, {"event_type": "bogus", "client_event_id": "b"})
    assert post(client, events_url, bad).status_code == 400
    good = batch({**VIEW, "client_event_id": "a"}, {**VIEW, "client_event_id": "b"})
    assert post(client, events_url, good).json() == {"accepted": 2, "duplicates": 0}


# --- API keys ----------------------------------------------------------------------------
def test_api_key_batch_with_visitor_and_user(app_key, events_url):
    key, raw = app_key
    response = post(
        Client(),
        events_url,
        batch({**VIEW, "visitor_key": "install-1", "user_key": "u-7", "value": 12.5, "context": {"screen": "home"}}),
        **key_headers(raw),
    )
    assert response.status_code == 201, response.content
    event = Event.objects.get()
    assert (event.channel, event.source, event.visitor_key, event.user_key) == ("app", "ios-app", "install-1", "u-7")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_api_key_needs_no_csrf(app_key, events_url):
    _, raw = app_key
    client = Client(enforce_csrf_checks=True)
    assert post(client, events_url, batch({**VIEW, "visitor_key": "x"}), **key_headers(raw)).status_code == 201


def test_api_key_may_only_send_its_own_channel(app_key, events_url):
    _, raw = app_key
    response = post(Client(), events_url, batch({**VIEW, "visitor_key": "x", "channel": "web"}), **key_headers(raw))
    assert response.status_code == 400
    assert "channel" in response.json()["errors"]["0"]
    ok = post(Client(), events_url, batch({**VIEW, "visitor_key": "x", "channel": "app"}), **key_headers(raw))
    assert ok.status_code == 201


def test_api_key_events_need_a_visitor_or_user(app_key, events_url):
    _, raw = app_key
    response = post(Client(), events_url, batch(VIEW), **key_headers(raw))
    assert response.status_code == 400 and "visitor_key" in response.json()["errors"]["0"]


@pytest.mark.parametrize("header", ["Api-Key eai_wrongwrongwrong", "Api-Key not-even-a-key", "Api-Key ", "Api-Key a b"])
def test_unknown_or_malformed_api_key_is_401(app_key, events_url, header):
    response = post(Client(), events_url, batch({**VIEW, "visitor_key": "x"}), authorization=header)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert "Api-Key" in response["WWW-Authenticate"]
    assert not Event.objects.exists()


def test_inactive_api_key_is_403(app_key, events_url):
    key, raw = app_key
    ChannelKey.objects.filter(pk=key.pk).update(is_active=False)
    response = post(Client(), events_url, batch({**VIEW, "visitor_key": "x"}), **key_headers(raw))
    assert response.status_code == 403 and "deactivated" in response.json()["detail"]


def test_api_key_idempotency_is_per_key(app_key, events_url):
    _, raw = app_key
    _, raw2 = ChannelKey.create_with_key(name="android-app", channel="app")
    body = batch({**VIEW, "visitor_key": "x", "client_event_id": "same"})
    assert post(Client(), events_url, body, **key_headers(raw)).json()["accepted"] == 1
    assert post(Client(), events_url, body, **key_headers(raw)).json()["duplicates"] == 1
    assert post(Client(), events_url, body, **key_headers(raw2)).json()["accepted"] == 1


# --- throttling ----------------------------------------------------------------------------
def test_browsers_are_throttled_per_visitor(make_browser, events_url, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "EVENTS_THROTTLE_RATE": "2/min"}
    client = make_browser("vis-busy")
    assert [post(client, events_url, batch(VIEW)).status_code for _ in range(3)] == [201, 201, 429]
    assert post(make_browser("vis-calm"), events_url, batch(VIEW)).status_code == 201
    assert Event.objects.filter(visitor_key="vis-busy").count() == 2


def test_api_keys_are_throttled_per_key(app_key, events_url, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "API_KEY_THROTTLE_RATE": "1/min", "EVENTS_THROTTLE_RATE": "1/min"}
    _, raw = app_key
    body = batch({**VIEW, "visitor_key": "x"})
    assert post(Client(), events_url, body, **key_headers(raw)).status_code == 201
    response = post(Client(), events_url, body, **key_headers(raw))
    assert response.status_code == 429 and "Retry-After" in response


def test_throttle_can_be_switched_off(make_browser, events_url, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "EVENTS_THROTTLE_RATE": None}
    client = make_browser()
    assert {post(client, events_url, batch(VIEW)).status_code for _ in range(5)} == {201}


# --- schema --------------------------------------------------------------------------------
def test_endpoint_is_in_the_openapi_schema(client):
    response = client.get("/ecom-ai/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/ecom-ai/api/v1/events/"]["post"]
    assert operation["operationId"] == "ecom_ai_events_create"
    assert {"201", "400", "401", "413", "429"} <= set(operation["responses"])
