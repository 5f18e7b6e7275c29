"""Languages: detected per message, answered in it, with a note when only the default has the answer."""

import pytest

from ecom_ai.chat.language import answer_language, detect_language
from ecom_ai.chat.pack import load_pack
from ecom_ai.chat.service import ChatService
from ecom_ai.models import Intent, KnowledgeArticle


@pytest.mark.parametrize(
    "text, language",
    [
        ("where is my order?", "en"),
        ("我的订单到哪了", "zh"),
        ("订单号 4F3A2B9C1D 到哪了", "zh"),  # a Latin order number inside Chinese
        ("我的邮箱是 anna@example.com", "zh"),
        ("有没有50元以下的跑步鞋", "zh"),
        ("do you have 跑步鞋 in size 42?", "en"),  # mostly English
        ("注文はどこですか", "ja"),
        ("주문이 어디 있나요", "ko"),
        ("", "en"),
    ],
)
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_unsupported_languages_fall_back_to_the_default(settings):
    assert answer_language("ja") == "en"
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_DEFAULT_LANGUAGE": "zh-hans"}
    assert answer_language("ko") == "zh"


pytestmark = pytest.mark.django_db


@pytest.fixture
def service(chat_pack):
    return ChatService()


def reply(service, text, user=None):
    return service.reply(ChatService.start_conversation(visitor_key="v-lang"), text, user=user)


def test_the_pack_loads_chinese_articles_and_templates_once(chat_pack):
    returns = KnowledgeArticle.objects.get(title="Returns")
    assert returns.language == "en"
    assert [(a.language, a.title) for a in returns.translations.all()] == [("zh", "退货")]
    assert Intent.objects.get(name="greeting").translations["zh"].startswith("您好")
    before = KnowledgeArticle.objects.count()
    assert load_pack(articles=True).articles_created == 0 and KnowledgeArticle.objects.count() == before


def test_a_chinese_question_gets_the_chinese_article(service, shop):
    bot = reply(service, "怎么退货？")
    assert bot.language == "zh" and bot.sources[0]["label"] == "退货" and "30天" in bot.text
    english = reply(service, "how do I return an item?")
    assert english.language == "en" and english.sources[0]["label"] == "Returns"


def test_an_english_question_about_a_chinese_matched_article_is_answered_in_english(service, shop):
    bot = reply(service, "how much is shipping?")
    assert bot.sources[0]["label"] == "Shipping costs" and "4.90" in bot.text


def test_without_a_translation_the_default_language_answers_with_a_note(service, shop):
    KnowledgeArticle.objects.create(
        title="Gift wrapping",
        topic="other",
        language="en",
        body="We gift-wrap any item for 2.50.",
        questions="Do you offer gift wrapping?\n可以礼品包装吗？",
    )
    bot = reply(service, "可以礼品包装吗？")
    assert bot.sources[0]["label"] == "Gift wrapping"
    assert bot.text.startswith("（此回答暂无中文版本，以下为英文内容。）") and "2.50" in bot.text


def test_templates_and_the_bots_own_sentences_follow_the_language(service, shop):
    assert reply(service, "你好").text.startswith("您好")
    assert reply(service, "hello").text.startswith("Hello")
    off_topic = reply(service, "今天天气怎么样")
    assert off_topic.text.startswith("抱歉") and "我的订单到哪了？" in off_topic.suggestions


def test_chinese_order_question_for_a_logged_in_shopper(service, shop):
    number = shop["alice_order"].number
    bot = reply(service, f"订单号{number}到哪了", user=shop["alice"])
    assert f"订单 {number}已发货" in bot.text and "TRK-ALICE-1" in bot.text
