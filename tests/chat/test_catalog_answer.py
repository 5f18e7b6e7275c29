"""The chat's catalog answer goes through catalog search: price limits kept, related items only."""

from decimal import Decimal

import pytest

from ecom_ai.catalog.search import clear_index
from ecom_ai.chat.service import ChatService


@pytest.fixture
def running_catalog(db):
    from ecom_ai.models import Event, Item

    items = [
        Item(
            key=f"run{i}",
            title=f"Running Shoes Model {i}",
            category="Shoes",
            text="running shoes",
            price=Decimal(30 + 10 * i),
        )
        for i in range(8)
    ]  # 30 .. 100
    items += [
        Item(key="tree", title="Cat Tree Deluxe", category="Pet Supplies", price=Decimal("45")),
        Item(key="bells", title="Dumbbell Set", category="Sports & Fitness", price=Decimal("35")),
        Item(key="slip", title="Cosy Slippers", category="Shoes", price=Decimal("20")),
    ]
    Item.objects.bulk_create(items)
    # the cat tree and the dumbbells are the shop's best sellers, unrelated to shoes
    Event.objects.bulk_create(
        [
            Event(event_type="purchase", channel="web", visitor_key=f"v{i}", item_key=key)
            for i in range(20)
            for key in ("tree", "bells")
        ]
    )
    clear_index()
    yield
    clear_index()


@pytest.mark.parametrize(
    "text", ["running shoes under 50", "do you have running shoes below $50?", "有没有50元以下的跑步鞋"]
)
def test_price_limit_and_no_unrelated_best_sellers(chat_pack, running_catalog, text):
    service = ChatService()
    conversation = ChatService.start_conversation(visitor_key="shopper")
    bot = service.reply(conversation, text)
    assert bot.intent == "product_question", bot.text
    products = [s for s in bot.sources if s["type"] == "product"]
    assert products, bot.text
    assert all(s["key"] in {"run0", "run1", "run2"} for s in products)  # 30, 40 (50 only for 以下)
    assert "Cat Tree" not in bot.text and "Dumbbell" not in bot.text
    for source in bot.sources:
        if source["type"] == "recommendation":
            assert source["key"] == "slip"  # same category, within the limit
