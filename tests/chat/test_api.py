"""POST/GET /ecom-ai/api/v1/chat/messages/."""

import pytest
from django.core.cache import cache
from django.test import Client

from ecom_ai.models import Conversation, Message

URL = "/ecom-ai/api/v1/chat/messages/"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_throttle():
    cache.clear()
    yield
    cache.clear()


def post(client, payload, **extra):
    return client.post(URL, payload, content_type="application/json", **extra)


def csrf_client(user=None):
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    client.get(URL)  # sets the visitor cookie; the CSRF cookie comes from the page in real life
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    return client, token


def test_anonymous_conversation_round_trip(chat_pack, shop):
    client, token = csrf_client()
    response = post(client, {"text": "how do I return an item?"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    data = response.json()
    assert [m["sender"] for m in data["messages"]] == ["shopper", "bot"]
    assert data["messages"][1]["sources"][0]["label"] == "Returns"
    assert data["conversation"]["status"] == "bot"
    # history is kept across pages (same session)
    history = client.get(URL).json()
    assert [m["id"] for m in history["messages"]] == [m["id"] for m in data["messages"]]
    assert client.get(URL, {"after": data["messages"][0]["id"]}).json()["messages"][0]["sender"] == "bot"
    # another visitor sees nothing of it
    assert Client().get(URL).json() == {"conversation": None, "messages": [], "poll_seconds": 5}


def test_csrf_is_enforced_for_anonymous_shoppers(chat_pack):
    client, _ = csrf_client()
    response = post(client, {"text": "hello"})
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_logged_in_shopper_sees_own_order_and_not_others(chat_pack, shop):
    client, token = csrf_client(shop["alice"])
    own = post(client, {"text": f"where is order {shop['alice_order'].number}"}, HTTP_X_CSRFTOKEN=token).json()
    assert "TRK-ALICE-1" in own["messages"][-1]["text"]
    other = post(client, {"text": f"where is order {shop['bob_order'].number}"}, HTTP_X_CSRFTOKEN=token).json()
    assert "TRK-BOB-9" not in other["messages"][-1]["text"]
    assert Conversation.objects.get().user_key == str(shop["alice"].pk)
    # bob, logged in elsewhere, does not get alice's conversation
    bob = Client()
    bob.force_login(shop["bob"])
    assert bob.get(URL).json()["messages"] == []


@pytest.mark.parametrize(
    "payload, message",
    [
        ({}, "'text' field"),
        ({"text": 5}, "must be a string"),
        ({"text": "   "}, "empty"),
        ({"text": "x" * 1001}, "too long"),
        (["text"], "'text' field"),
    ],
)
def test_bad_input_is_a_clear_400(chat_pack, payload, message):
    client, token = csrf_client()
    response = post(client, payload, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Message.objects.exists()


def test_malformed_json_and_bad_after_are_400(chat_pack):
    client, token = csrf_client()
    response = client.post(URL, "{not json", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400
    assert client.get(URL, {"after": "abc"}).status_code == 400


def test_html_is_returned_as_text_never_markup(chat_pack):
    client, token = csrf_client()
    data = post(client, {"text": "<script>alert(1)</script> hi"}, HTTP_X_CSRFTOKEN=token).json()
    assert data["messages"][0]["text"] == "<script>alert(1)</script> hi"
    # the JSON is served as JSON (the widget inserts text with textContent)
    assert client.get(URL)["Content-Type"].startswith("application/json")


def test_throttled_with_429(chat_pack, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_THROTTLE_RATE": "2/min"}
    client, token = csrf_client()
    codes = [post(client, {"text": "hello"}, HTTP_X_CSRFTOKEN=token).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    response = post(client, {"text": "hello"}, HTTP_X_CSRFTOKEN=token)
    assert "Too many messages" in response.json()["detail"]
    assert client.get(URL).status_code == 200  # polling is not throttled


def test_closed_conversation_starts_a_new_one(chat_pack):
    client, token = csrf_client()
    first = post(client, {"text": "hello"}, HTTP_X_CSRFTOKEN=token).json()["conversation"]["id"]
    Conversation.objects.filter(pk=first).update(status=Conversation.STATUS_CLOSED)
    second = post(client, {"text": "hello"}, HTTP_X_CSRFTOKEN=token).json()["conversation"]["id"]
    assert second != first


def test_staff_reply_reaches_the_shopper_on_next_poll(chat_pack, django_user_model):
    from ecom_ai.chat.service import ChatService

    client, token = csrf_client()
    data = post(client, {"text": "I want to talk to a human"}, HTTP_X_CSRFTOKEN=token).json()
    assert data["conversation"]["status"] == "handed_off"
    last = data["messages"][-1]["id"]
    staff = django_user_model.objects.create_user("agent", "a@example.com", "pw", is_staff=True)
    ChatService.staff_reply(Conversation.objects.get(), staff, "Hello, this is Sam.")
    poll = client.get(URL, {"after": last}).json()
    assert [(m["sender"], m["text"]) for m in poll["messages"]] == [("staff", "Hello, this is Sam.")]
    # the bot stays quiet while staff holds the conversation
    quiet = post(client, {"text": "thanks"}, HTTP_X_CSRFTOKEN=token).json()
    assert [m["sender"] for m in quiet["messages"]] == ["shopper"]


def test_a_staff_reply_between_polls_comes_back_with_the_shoppers_next_post(chat_pack, django_user_model):
    """The race of issue 14: staff replies, the shopper sends before the next poll."""
    from ecom_ai.chat.service import ChatService

    client, token = csrf_client()
    data = post(client, {"text": "I want to talk to a human"}, HTTP_X_CSRFTOKEN=token).json()
    seen = data["messages"][-1]["id"]
    staff = django_user_model.objects.create_user("agent", "a@example.com", "pw", is_staff=True)
    ChatService.staff_reply(Conversation.objects.get(), staff, "Hello, this is Sam.")
    reply = post(client, {"text": "are you there?", "after": seen}, HTTP_X_CSRFTOKEN=token).json()
    assert [m["sender"] for m in reply["messages"]] == ["staff", "shopper"]
    assert reply["conversation"]["waiting_for_staff"] is True


@pytest.mark.parametrize("after", [-1, "3", 1.5, True, 10**19])
def test_a_bad_after_in_a_post_is_a_400(chat_pack, after):
    client, token = csrf_client()
    response = post(client, {"text": "hello", "after": after}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400 and response.json()["code"] == "invalid_after"
    assert not Message.objects.exists()


def test_suggestions_come_with_the_off_topic_answer(chat_pack):
    client, token = csrf_client()
    data = post(client, {"text": "what's the weather tomorrow"}, HTTP_X_CSRFTOKEN=token).json()
    assert data["messages"][-1]["suggestions"][0] == "Where is my order?"
    assert data["conversation"]["status"] == "bot"


def test_an_old_conversation_does_not_follow_a_logged_in_shopper_into_a_new_session(
    chat_pack, django_user_model, settings
):
    from datetime import timedelta

    from django.utils import timezone

    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_RESUME_MINUTES": 60}
    user = django_user_model.objects.create_user("carol", "carol@example.com", "pw")
    client, token = csrf_client(user)
    first = post(client, {"text": "I want to talk to a human"}, HTTP_X_CSRFTOKEN=token).json()["conversation"]
    assert first["status"] == "handed_off"
    recent, _ = csrf_client(user)  # a new session, soon after: the same conversation
    assert recent.get(URL).json()["conversation"]["id"] == first["id"]
    Conversation.objects.filter(pk=first["id"]).update(updated_at=timezone.now() - timedelta(hours=2))
    later, later_token = csrf_client(user)  # a new session, hours later: a fresh conversation
    assert later.get(URL).json()["conversation"] is None
    data = post(later, {"text": "hello"}, HTTP_X_CSRFTOKEN=later_token).json()
    assert data["conversation"]["id"] != first["id"] and data["messages"][-1]["sender"] == "bot"
