"""Chat admin: intents with examples, knowledge base, hand-off inbox, report."""

import pytest

from ecom_ai.chat.service import ChatService
from ecom_ai.models import Conversation, Intent, KnowledgeArticle, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    client.admin_user = admin
    return client


def test_intent_pages(chat_pack, staff_client):
    intent = Intent.objects.get(name="return_item")
    assert staff_client.get("/admin/ecom_ai/intent/").status_code == 200
    page = staff_client.get(f"/admin/ecom_ai/intent/{intent.pk}/change/")
    assert page.status_code == 200 and "how do I return a product" in page.content.decode()
    assert staff_client.get("/admin/ecom_ai/knowledgearticle/").status_code == 200
    article = KnowledgeArticle.objects.first()
    assert staff_client.get(f"/admin/ecom_ai/knowledgearticle/{article.pk}/change/").status_code == 200


def test_report_shows_per_intent_handoff_rate(chat_pack, staff_client):
    conv = ChatService.start_conversation(visitor_key="v")
    ChatService().reply(conv, "I want to talk to a human")
    conv2 = ChatService.start_conversation(visitor_key="w")
    ChatService().reply(conv2, "how do I return an item?")
    Message.objects.filter(sender="shopper", intent="return_item").update(reviewed_intent="return_item")
    page = staff_client.get("/admin/ecom_ai/intent/report/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "human_agent" in html and "100%" in html  # the human_agent answer handed off
    assert "50%" in html  # overall hand-off rate: 1 of 2 answers


def test_inbox_lists_handed_off_and_staff_replies(chat_pack, staff_client):
    conv = ChatService.start_conversation(visitor_key="v")
    ChatService().reply(conv, "I want to talk to a human")
    inbox = staff_client.get("/admin/ecom_ai/conversation/", follow=True)
    assert inbox.status_code == 200 and f"Conversation {conv.pk}" in inbox.content.decode()
    change_url = f"/admin/ecom_ai/conversation/{conv.pk}/change/"
    page = staff_client.get(change_url)
    assert "I want to talk to a human" in page.content.decode()
    response = staff_client.post(change_url, {"reply": "Hi, Sam here. <b>bold</b>", "then": "keep"})
    assert response.status_code == 302
    staff_message = conv.messages.get(sender="staff")
    assert staff_message.text == "Hi, Sam here. <b>bold</b>" and staff_message.staff_user == staff_client.admin_user
    conv.refresh_from_db()
    assert conv.status == Conversation.STATUS_HANDED_OFF and conv.assigned_to == staff_client.admin_user
    # the transcript escapes HTML
    assert "&lt;b&gt;bold&lt;/b&gt;" in staff_client.get(change_url).content.decode()
    staff_client.post(change_url, {"reply": "", "then": "close"})
    conv.refresh_from_db()
    assert conv.status == Conversation.STATUS_CLOSED


def test_take_over_action_silences_the_bot(chat_pack, staff_client):
    conv = ChatService.start_conversation(visitor_key="v")
    staff_client.post(
        "/admin/ecom_ai/conversation/?status__exact=bot", {"action": "take_over", "_selected_action": [conv.pk]}
    )
    conv.refresh_from_db()
    assert conv.status == Conversation.STATUS_HANDED_OFF
    assert ChatService().reply(conv, "hello") is None


def test_messages_review_list(chat_pack, staff_client):
    conv = ChatService.start_conversation(visitor_key="v")
    ChatService().reply(conv, "hello")
    assert staff_client.get("/admin/ecom_ai/message/").status_code == 200


def test_train_action_creates_an_active_intent_version(chat_pack, staff_client, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "TASK_MODE": "inline"}
    intent = Intent.objects.first()
    with_commit = staff_client.post(
        "/admin/ecom_ai/intent/", {"action": "train_classifier", "_selected_action": [intent.pk]}, follow=True
    )
    assert with_commit.status_code == 200
    assert (
        "training requested" in with_commit.content.decode() and "inside this request" in with_commit.content.decode()
    )
