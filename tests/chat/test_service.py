"""ChatService end to end (in process): orders, knowledge base, catalog, hand-off, staff."""

import pytest
from django.contrib.auth.models import AnonymousUser

from ecom_ai.chat.service import ChatInputError, ChatService
from ecom_ai.models import Conversation, Message
from ecom_ai.signals import chat_handed_off

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(chat_pack):
    return ChatService()


def new_conversation(user=None):
    return ChatService.start_conversation(visitor_key="v-test", user=user)


def test_logged_in_shopper_gets_own_order_status_with_source(service, shop):
    conv = new_conversation(shop["alice"])
    number = shop["alice_order"].number
    bot = service.reply(conv, f"where is my order {number}?", user=shop["alice"])
    assert bot.intent == "order_status"
    assert number in bot.text and "shipped" in bot.text and "TRK-ALICE-1" in bot.text
    assert bot.sources == [{"type": "order", "number": number, "label": f"Order {number}"}]


def test_logged_in_without_number_lists_own_orders_only(service, shop):
    conv = new_conversation(shop["alice"])
    bot = service.reply(conv, "where is my order?", user=shop["alice"])
    assert shop["alice_order"].number in bot.text
    assert shop["bob_order"].number not in bot.text


def test_other_shoppers_order_is_refused_without_leaking(service, shop):
    conv = new_conversation(shop["alice"])
    bob_number = shop["bob_order"].number
    refused = service.reply(conv, f"where is my order {bob_number}", user=shop["alice"])
    missing = service.reply(conv, "where is my order ZZ99999999", user=shop["alice"])
    assert "TRK-BOB-9" not in refused.text and "paid" not in refused.text and "120" not in refused.text
    assert refused.text == missing.text  # same answer whether the order exists or not
    assert all(s["type"] != "order" for s in refused.sources)


def test_anonymous_needs_number_and_matching_email(service, shop):
    number = shop["guest_order"].number
    conv = new_conversation()
    ask = service.reply(conv, f"status of order {number}", user=AnonymousUser())
    assert "e-mail" in ask.text and "delivered" not in ask.text
    answer = service.reply(conv, "it's guest@example.com", user=AnonymousUser())
    assert number in answer.text and "delivered" in answer.text
    assert answer.sources[0]["type"] == "order"


def test_anonymous_with_wrong_email_is_refused(service, shop):
    number = shop["alice_order"].number
    conv = new_conversation()
    bot = service.reply(conv, f"where is order {number}? my email is mallory@example.com", user=None)
    assert "TRK-ALICE-1" not in bot.text and "shipped" not in bot.text
    missing = service.reply(conv, "where is order QQ12345678? my email is mallory@example.com", user=None)
    assert bot.text == missing.text


def test_anonymous_with_number_and_email_in_one_message(service, shop):
    number = shop["alice_order"].number
    conv = new_conversation()
    bot = service.reply(conv, f"track order {number.lower()} email ALICE@example.com", user=None)
    assert "TRK-ALICE-1" in bot.text


def test_repeated_failed_lookups_stop_and_hand_off(service, shop, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_MAX_ORDER_LOOKUP_FAILURES": 2}
    conv = new_conversation()
    for guess in ("AA11111111", "BB22222222"):
        service.reply(conv, f"where is order {guess}? email x@example.com", user=None)
    number = shop["guest_order"].number
    bot = service.reply(conv, f"where is order {number}? email guest@example.com", user=None)
    assert "delivered" not in bot.text
    conv.refresh_from_db()
    assert conv.status == Conversation.STATUS_HANDED_OFF


def test_knowledge_answer_cites_article(service, shop):
    conv = new_conversation()
    bot = service.reply(conv, "how do I return an item?", user=None)
    assert bot.intent == "return_item"
    assert "30 days" in bot.text
    assert bot.sources[0]["type"] == "article" and bot.sources[0]["label"] == "Returns"


def test_chinese_question_gets_knowledge_answer(service, shop):
    bot = service.reply(new_conversation(), "我想退货", user=None)
    assert bot.intent == "return_item"
    assert bot.sources[0]["label"] == "退货"  # the Chinese version of "Returns"


def test_product_question_searches_catalog(service, shop):
    bot = service.reply(new_conversation(), "do you have running shoes?", user=None)
    assert bot.intent == "product_question"
    assert "Trail Running Shoes" in bot.text and "89.00" in bot.text
    assert bot.sources[0] == {
        "type": "product",
        "key": "1",
        "label": "Trail Running Shoes",
        "url": "/p/trail-running-shoes/",
    }


def test_off_topic_gets_suggestions_not_a_hand_off(service, shop):
    conv = new_conversation()
    bot = service.reply(conv, "who won the football game yesterday", user=None)
    conv.refresh_from_db()
    assert not bot.handed_off and conv.status == Conversation.STATUS_BOT
    assert "orders, returns, shipping, payment and products" in bot.text
    assert "Where is my order?" in bot.suggestions and "Talk to a person" in bot.suggestions


def test_a_suggestion_button_answers_what_it_says(service, shop):
    conv = new_conversation()
    service.reply(conv, "what's the weather like in Paris", user=None)
    bot = service.reply(conv, "How do I return an item?", user=None)
    assert bot.sources[0]["label"] == "Returns"
    handoff = service.reply(new_conversation(), "tell me a joke", user=None)
    assert not handoff.handed_off
    conv2 = handoff.conversation
    bot = service.reply(conv2, "Talk to a person", user=None)
    conv2.refresh_from_db()
    assert bot.handed_off and conv2.status == Conversation.STATUS_HANDED_OFF


def test_hand_off_after_repeated_misses(service, shop, settings, django_capture_on_commit_callbacks):
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_HANDOFF_AFTER_MISSES": 3}
    received = []

    def receiver(sender, conversation, **kwargs):
        received.append(conversation.pk)

    conv = new_conversation()
    chat_handed_off.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = service.reply(conv, "what's the weather tomorrow", user=None)
            service.reply(conv, "who is the president of France", user=None)
            third = service.reply(conv, "sing me a song about the moon", user=None)
    finally:
        chat_handed_off.disconnect(receiver)
    conv.refresh_from_db()
    assert not first.handed_off
    assert third.handed_off and conv.status == Conversation.STATUS_HANDED_OFF
    assert received == [conv.pk]


def test_while_waiting_for_staff_the_bot_still_answers_with_a_notice_then_staff_holds(service, shop, django_user_model):
    conv = new_conversation()
    handoff = service.reply(conv, "I want to talk to a human", user=None)
    assert handoff.handed_off
    waiting = service.reply(conv, "how do I return an item?", user=None)
    assert waiting is not None and waiting.sources[0]["label"] == "Returns"
    assert "will also reply here" in waiting.text and not waiting.handed_off
    unknown = service.reply(conv, "what's the weather tomorrow", user=None)
    assert unknown is not None and "will reply here" in unknown.text
    staff = django_user_model.objects.create_user("agent", "agent@example.com", "pw", is_staff=True)
    ChatService.staff_reply(conv, staff, "Hi, I'm Sam from customer service.")
    assert service.reply(conv, "thanks Sam", user=None) is None  # staff holds it: the bot is quiet
    conv.refresh_from_db()
    assert conv.assigned_to == staff
    ChatService.return_to_bot(conv)
    assert service.reply(conv, "hello", user=None).intent == "greeting"
    senders = list(conv.messages.values_list("sender", flat=True))
    assert senders == ["shopper", "bot", "shopper", "bot", "shopper", "bot", "staff", "shopper", "shopper", "bot"]


def test_a_hand_off_expires_without_staff_action(service, shop, settings, django_user_model):
    from datetime import timedelta

    from django.utils import timezone

    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_HANDOFF_EXPIRY_MINUTES": 10}
    conv = new_conversation()
    service.reply(conv, "I want to talk to a human", user=None)
    staff = django_user_model.objects.create_user("agent", "agent@example.com", "pw", is_staff=True)
    ChatService.take_over(conv, staff)
    assert service.reply(conv, "hello?", user=None) is None
    Conversation.objects.filter(pk=conv.pk).update(
        handed_off_at=timezone.now() - timedelta(minutes=30), staff_active_at=timezone.now() - timedelta(minutes=11)
    )
    bot = service.reply(conv, "how do I return an item?", user=None)
    conv.refresh_from_db()
    assert bot is not None and conv.status == Conversation.STATUS_BOT
    assert bot.sources[0]["label"] == "Returns" and "back to help" in bot.text


def test_an_article_that_matches_better_beats_a_weak_handler(service, shop):
    from ecom_ai.models import KnowledgeArticle

    KnowledgeArticle.objects.create(
        title="Tracking your parcel",
        topic="shipping",
        body="Every shipped order has a tracking link in its shipping e-mail.",
        questions="is there a way to follow where my package is",
    )
    bot = service.reply(new_conversation(), "is there a way to follow where my package is", user=None)
    assert bot.sources[0]["label"] == "Tracking your parcel"


def test_an_anonymous_order_question_a_clear_article_answers_gets_it_and_the_look_up_button(service, shop, monkeypatch):
    from ecom_ai.chat import ranker
    from ecom_ai.models import KnowledgeArticle

    monkeypatch.setattr(ranker, "INTENT_TOP", 10.0)  # the order-status handler ranks best whatever the article

    KnowledgeArticle.objects.create(
        title="Tracking your parcel",
        topic="shipping",
        body="Every shipped order has a tracking link in its shipping e-mail.",
        questions="where is my order",
    )
    conv = new_conversation()
    bot = service.reply(conv, "where is my order", user=None)
    assert bot.sources[0]["label"] == "Tracking your parcel" and "Check my order status" in bot.suggestions
    ask = service.reply(conv, "Check my order status", user=None)  # the button: the look-up
    assert ask.intent == "order_status" and "order number" in ask.text
    own = service.reply(new_conversation(shop["alice"]), "where is my order", user=shop["alice"])
    assert shop["alice_order"].number in own.text  # logged in: the shopper's own orders, not the article


def test_two_close_answers_make_a_clarifying_question_with_buttons(service, shop):
    from ecom_ai.models import KnowledgeArticle

    KnowledgeArticle.objects.create(
        title="Gift wrapping", topic="other", body="We wrap any item for 2.50.", questions="do you have gift options"
    )
    KnowledgeArticle.objects.create(
        title="Gift cards", topic="other", body="Gift cards from 10 to 200.", questions="do you have gift options"
    )
    conv = new_conversation()
    ask = service.reply(conv, "do you have gift options", user=None)
    assert ask.text == "Did you mean one of these?"
    assert sorted(ask.suggestions) == ["Gift cards", "Gift wrapping"]
    bot = service.reply(conv, "Gift cards", user=None)
    assert bot.text == "Gift cards from 10 to 200."


def test_chinese_order_number_and_email_for_an_anonymous_shopper(service, shop):
    number = shop["guest_order"].number
    conv = new_conversation()
    ask = service.reply(conv, f"帮我查一下订单号 {number}", user=None)
    assert "邮箱" in ask.text
    bot = service.reply(conv, "邮箱是guest@example.com", user=None)
    assert number in bot.text and "已送达" in bot.text


def test_logged_in_shopper_cannot_use_number_and_email_of_someone_elses_order(service, shop):
    bob_number = shop["bob_order"].number
    conv = new_conversation(shop["alice"])
    refused = service.reply(conv, f"where is order {bob_number}? my email is bob@example.com", user=shop["alice"])
    missing = service.reply(conv, "where is order ZZ99999999? my email is bob@example.com", user=shop["alice"])
    assert "TRK-BOB-9" not in refused.text and "paid" not in refused.text
    assert refused.text == missing.text and "your account" in refused.text


def test_human_agent_request_hands_off(service, shop):
    conv = new_conversation()
    bot = service.reply(conv, "I want to talk to a human", user=None)
    assert bot.intent == "human_agent" and bot.handed_off
    conv.refresh_from_db()
    assert conv.status == Conversation.STATUS_HANDED_OFF


@pytest.mark.parametrize(
    "text, language",
    [("I want to make a complaint, this is unacceptable", "en"), ("我要投诉，太差劲了", "zh")],
)
def test_a_complaint_gets_an_apology_and_options_not_a_hand_off(service, shop, text, language):
    conv = new_conversation()
    bot = service.reply(conv, text, user=None)
    conv.refresh_from_db()
    assert bot.intent == "complaint" and not bot.handed_off and conv.status == Conversation.STATUS_BOT
    assert ("sorry" in bot.text) if language == "en" else ("抱歉" in bot.text)
    person = "Talk to a person" if language == "en" else "转人工客服"
    assert person in bot.suggestions and len(bot.suggestions) >= 3
    handoff = service.reply(conv, person, user=None)  # the button: an explicit request
    conv.refresh_from_db()
    assert handoff.handed_off and conv.status == Conversation.STATUS_HANDED_OFF


def test_the_ranker_scale_is_fitted_on_the_articles_for_the_encoder(service, shop):
    from ecom_ai.chat import retrieval

    encoder = service.classifier.encoder
    calibration = retrieval.knowledge_calibration(encoder)
    assert calibration.fitted and calibration.high > calibration.floor
    assert calibration.normalise(calibration.floor) == 0.0
    assert abs(calibration.normalise(calibration.high) - 1.0) < 1e-9


def test_a_fixed_kb_floor_replaces_the_fitted_one(service, shop, settings):
    from ecom_ai.chat.service import _knowledge_scale

    fitted = _knowledge_scale(service.classifier.encoder)
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_KB_MIN_SIMILARITY": 0.9}
    fixed = _knowledge_scale(service.classifier.encoder)
    assert fixed.floor == 0.9 and fixed.normalise(0.9) == 0.0 and fitted.floor != 0.9


def test_card_numbers_are_never_stored(service, shop):
    conv = new_conversation()
    bot = service.reply(conv, "I paid with 4111 1111 1111 1111 but payment failed", user=None)
    stored = list(Message.objects.filter(conversation=conv).values_list("text", flat=True))
    assert all("4111" not in text for text in stored)
    assert "removed payment" in bot.text


@pytest.mark.parametrize("text", ["", "   ", None, 42, "x" * 1001])
def test_bad_input_raises_and_stores_nothing(service, text):
    conv = new_conversation()
    with pytest.raises(ChatInputError):
        service.reply(conv, text, user=None)
    assert not conv.messages.exists()


def test_a_failing_adapter_hands_off_instead_of_crashing(service, shop, monkeypatch):
    from ecom_ai.adapters import DefaultShopAdapter

    def broken(self, number):
        raise RuntimeError("database of the host is down")

    monkeypatch.setattr(DefaultShopAdapter, "find_order", broken)
    conv = new_conversation()
    bot = service.reply(conv, "where is order AB12345678? email a@example.com", user=None)
    assert bot.handed_off and "went wrong" in bot.text


def test_a_product_the_classifier_does_not_know_is_found_in_the_catalog(service, shop):
    from ecom_ai.chat.classifier import IntentPrediction

    def unsure(text, **kwargs):  # the classifier has never seen the word: out of scope
        vector = service.classifier.encode([text])[0]
        return IntentPrediction(intent="", confidence=0.1, similarity=0.1, best_guess="greeting", vector=vector)

    service._classifier = service.classifier
    service._classifier.predict = unsure
    try:
        bot = service.reply(new_conversation(), "有没有跑步鞋", user=None)
        assert bot.sources[0]["type"] == "product" and "Trail Running Shoes" in bot.text
        off_topic = service.reply(new_conversation(), "what's the weather tomorrow", user=None)
        assert off_topic.suggestions and not off_topic.sources
    finally:
        del service._classifier.predict
