import pytest
from django.contrib.auth import login
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

import ecom_ai
from ecom_ai import signals
from ecom_ai.events.identity import identify
from ecom_ai.events.tracking import track
from ecom_ai.models import Event, VisitorIdentity

pytestmark = pytest.mark.django_db


def test_identify_stitches_anonymous_events_of_the_visitor(users):
    alice, bob, _ = users
    track("view", visitor_key="v-a", item_key="1")
    track("view", visitor_key="v-a", item_key="2")
    track("view", visitor_key="v-a", user_key=str(bob.pk))  # already someone's: left alone
    track("view", visitor_key="v-other")
    identity = ecom_ai.identify("v-a", alice)
    assert (identity.visitor_key, identity.user_key, identity.channel) == ("v-a", str(alice.pk), "web")
    assert sorted(Event.objects.filter(visitor_key="v-a").values_list("user_key", flat=True)) == sorted(
        [str(alice.pk), str(alice.pk), str(bob.pk)]
    )
    assert Event.objects.get(visitor_key="v-other").user_key == ""
    # later anonymous events of the visitor are filled from the link
    assert track("view", visitor_key="v-a").user_key == str(alice.pk)


def test_identify_with_a_user_key_and_channel_is_idempotent():
    first = identify("card-77", "u-1", channel="store")
    second = identify("card-77", "u-1", channel="store")
    assert first.pk == second.pk and second.last_seen >= first.last_seen
    assert VisitorIdentity.objects.count() == 1


def test_identify_sends_visitor_identified():
    received = []

    def receiver(sender, visitor_key, user_key, channel, **kwargs):
        received.append((visitor_key, user_key, channel))

    signals.visitor_identified.connect(receiver)
    try:
        identify("v", "u", channel="app")
    finally:
        signals.visitor_identified.disconnect(receiver)
    assert received == [("v", "u", "app")]


@pytest.mark.parametrize(
    "visitor, user, channel",
    [
        ("", "u", "web"),
        ("v", "", "web"),
        ("v", AnonymousUser(), "web"),
        ("v" * 65, "u", "web"),
        ("v", "u", "fax"),
        (None, "u", "web"),
    ],
)
def test_identify_rejects_bad_input(visitor, user, channel):
    with pytest.raises(ValueError):
        identify(visitor, user, channel=channel)
    assert not VisitorIdentity.objects.exists()


def test_login_stitches_the_request_visitor(users):
    alice, _, _ = users
    track("add_to_cart", visitor_key="v-before-login", item_key="9")
    request = RequestFactory().post("/login/")
    request.session = SessionStore()
    request.ecom_ai_visitor = "v-before-login"
    request.user = AnonymousUser()
    login(request, alice, backend="django.contrib.auth.backends.ModelBackend")
    assert VisitorIdentity.objects.get().user_key == str(alice.pk)
    assert Event.objects.get().user_key == str(alice.pk)


@pytest.mark.urls("tests.events.urls")
def test_login_through_a_real_login_view_stitches_the_cookie_visitor(make_browser, users):
    alice, _, _ = users
    client = make_browser("vis-shopper")
    assert (
        client.post(
            "/ecom-ai/api/v1/events/",
            {"events": [{"event_type": "view", "item_key": "5"}]},
            content_type="application/json",
        ).status_code
        == 201
    )
    assert Event.objects.get().user_key == ""
    response = client.post("/login/", {"username": "alice", "password": "pw"})
    assert response.status_code == 302
    assert Event.objects.get().user_key == str(alice.pk)
    assert VisitorIdentity.objects.filter(visitor_key="vis-shopper", user_key=str(alice.pk)).exists()


def test_login_without_a_visitor_does_nothing(users):
    request = RequestFactory().post("/login/")
    request.session = SessionStore()
    request.user = AnonymousUser()
    login(request, users[0], backend="django.contrib.auth.backends.ModelBackend")
    assert not VisitorIdentity.objects.exists()
