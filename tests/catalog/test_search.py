"""Catalog search (ecom_ai.catalog.search and the chat's wrapper): price limits in English and
Chinese applied strictly, relevance ranking, related items only, on a generated catalog."""

from decimal import Decimal

import numpy as np
import pytest

from ecom_ai.catalog import search as catalog
from ecom_ai.catalog.search import parse_price, parse_query

RNG_SEED = 7
CATEGORIES = {
    "Shoes": ["Running Shoes", "Sneakers", "Hiking Boots", "Sandals"],
    "Headphones & Audio": ["Wireless Headphones", "Earbuds", "Bluetooth Speaker"],
    "Sports & Fitness": ["Yoga Mat", "Dumbbell Set", "Water Bottle"],
    "Pet Supplies": ["Cat Tree", "Dog Leash"],
    "Bags & Luggage": ["Backpack", "Tote Bag"],
}
MODS = ["Lightweight", "Waterproof", "Classic", "Pro", "Leather"]


@pytest.fixture
def generated_catalog(db):
    """~140 items: every noun × modifier in its category, prices spread 10..300, a few out of
    stock; plus a best seller (bought by everyone) that is unrelated to shoes."""
    from ecom_ai.models import Item

    rng = np.random.default_rng(RNG_SEED)
    items = []
    n = 0
    for category, nouns in CATEGORIES.items():
        for noun in nouns:
            for mod in MODS:
                for _copy in range(2):
                    n += 1
                    items.append(
                        Item(
                            key=f"k{n}",
                            title=f"{mod} {noun} {n}",
                            category=category,
                            text=f"{mod.lower()} {noun.lower()} of our shop",
                            price=Decimal(int(rng.integers(10, 300))),
                            in_stock=bool(n % 9),
                            url=f"/p/{n}/",
                        )
                    )
    # guaranteed fixtures for the assertions below
    items.append(
        Item(
            key="cheap-run",
            title="Budget Running Shoes",
            category="Shoes",
            text="running shoes",
            price=Decimal("39.00"),
            url="/p/cheap-run/",
        )
    )
    items.append(
        Item(
            key="edge-run",
            title="Edge Running Shoes",
            category="Shoes",
            text="running shoes",
            price=Decimal("50.00"),
            url="/p/edge-run/",
        )
    )
    items.append(
        Item(
            key="socks",
            title="Running Socks",
            category="Sports & Fitness",
            text="socks for runners",
            price=Decimal("12.00"),
        )
    )
    Item.objects.bulk_create(items)
    catalog.clear_index()
    yield {item.key: item for item in items}
    catalog.clear_index()


@pytest.mark.parametrize(
    "text, low, high, high_inclusive",
    [
        ("running shoes under 50", None, "50", False),
        ("below $50 headphones", None, "50", False),
        ("anything less than 19.99 dollars", None, "19.99", False),
        ("headphones up to 80", None, "80", True),
        ("有没有50元以下的跑步鞋", None, "50", True),
        ("不超过50的耳机", None, "50", True),
        ("低于30块的袜子", None, "30", False),
        ("between 20 and 40", "20", "40", True),
        ("backpacks from $20 to $40", "20", "40", True),
        ("20到40元的背包", "20", "40", True),
        ("bags 30-60", "30", "60", True),
        ("over 100", "100", None, True),
        ("100元以上的外套", "100", None, True),
        ("超过100的耳机", "100", None, True),
    ],
)
def test_price_limits_in_english_and_chinese(text, low, high, high_inclusive):
    found, _rest = parse_price(text)
    assert found is not None
    assert found.low == (Decimal(low) if low else None)
    assert found.high == (Decimal(high) if high else None)
    if high:
        assert found.high_inclusive is high_inclusive


@pytest.mark.parametrize("text", ["running shoes", "phone cover 20", "size 42 boots", "do you have a cover"])
def test_no_price_limit_without_a_price_phrase(text):
    assert parse_price(text)[0] is None


def test_strict_and_inclusive_limits():
    under, _ = parse_price("under 50")
    assert under.contains(Decimal("49.99")) and not under.contains(Decimal("50")) and not under.contains(None)
    at_most, _ = parse_price("50元以下")
    assert at_most.contains(Decimal("50")) and not at_most.contains(Decimal("50.01"))
    over, _ = parse_price("over 100")
    assert over.contains(Decimal("100.01")) and not over.contains(Decimal("100"))


def test_query_words_attributes_and_chinese_translation():
    query = parse_query("Do you have waterproof hiking boots under $80?")
    assert query.terms == ["waterproof", "hiking", "boot"] and query.attributes == ["waterproof"]
    assert query.language == "en" and query.price_range.high == Decimal("80")
    zh = parse_query("有没有50元以下的跑步鞋")
    assert zh.language == "zh" and {"running", "shoe"} <= set(zh.terms)
    assert "running shoes" in zh.semantic_text
    custom = parse_query("cheap trainers", synonyms={"trainers": "sneakers"})
    assert "sneaker" in custom.terms


def test_search_applies_the_price_limit_strictly(generated_catalog):
    result = catalog.search("running shoes under 50", limit=10)
    assert result.items, "cheap running shoes exist"
    assert all(hit.price < 50 for hit in result.items)
    assert all("Running Shoes" in hit.title for hit in result.items)  # not sneakers, not socks
    assert result.items[0].key == "cheap-run"
    assert "edge-run" not in [hit.key for hit in result.items]  # "under 50" is strict
    assert result.price_excluded > 0
    assert all(hit.price < 50 for hit in result.related)


def test_chinese_query_finds_english_items_within_the_limit(generated_catalog):
    result = catalog.search("有没有50元以下的跑步鞋", limit=10)
    keys = [hit.key for hit in result.items]
    assert "cheap-run" in keys and "edge-run" in keys  # 以下: 50 itself is included
    assert all(hit.price <= 50 and "Running Shoes" in hit.title for hit in result.items)
    assert result.language == "zh"


def test_range_and_minimum(generated_catalog):
    result = catalog.search("backpack between 20 and 100", limit=20)
    assert result.items and all(20 <= hit.price <= 100 and "Backpack" in hit.title for hit in result.items)
    result = catalog.search("headphones over 200", limit=20)
    assert all(hit.price > 200 for hit in result.items)


def test_in_stock_items_rank_first_among_equals(generated_catalog):
    result = catalog.search("sandals", limit=40)
    stock = [hit.in_stock for hit in result.items]
    assert stock == sorted(stock, reverse=True)


def test_nothing_within_the_limit_names_the_closest_outside_it(generated_catalog):
    result = catalog.search("cat tree under 5")
    assert result.items == [] and result.price_excluded > 0
    assert result.cheapest_excluded is not None and "Cat Tree" in result.cheapest_excluded.title
    cheapest = min(item.price for item in generated_catalog.values() if "Cat Tree" in item.title)
    assert result.cheapest_excluded.price == cheapest


def test_unknown_product_finds_nothing(generated_catalog):
    result = catalog.search("do you sell helicopters")
    assert result.items == [] and result.related == []


def test_also_liked_only_from_related_items_never_unrelated_best_sellers(generated_catalog):
    from ecom_ai.models import Event

    # the cat tree is everybody's purchase (a shop-wide best seller); socks are bought with cheap running shoes
    events = []
    for shopper in range(30):
        events.append(Event(event_type="purchase", channel="web", visitor_key=f"v{shopper}", item_key="k61"))
    for shopper in range(3):
        events.append(Event(event_type="purchase", channel="web", visitor_key=f"r{shopper}", item_key="cheap-run"))
        events.append(Event(event_type="purchase", channel="web", visitor_key=f"r{shopper}", item_key="socks"))
    Event.objects.bulk_create(events)
    result = catalog.search("running shoes under 50", limit=3, related_limit=3)
    related = {hit.key: hit for hit in result.related}
    assert "socks" in related and related["socks"].reason == "bought together"
    assert result.related[0].key == "socks"
    found = {hit.key for hit in result.items}
    for hit in result.related:
        assert hit.key not in found and hit.price < 50 and hit.in_stock
        assert hit.reason == "bought together" or hit.category == "Shoes"
    assert "Cat Tree" not in " ".join(hit.title for hit in result.related)


class _ToyEncoder:
    """A deterministic 'multilingual' encoder: maps known words in either language to axes."""

    name = "toy-encoder"
    AXES = {"trainers": 0, "sneakers": 0, "运动鞋": 0, "shoes": 0, "running": 0, "headphones": 1, "耳机": 1}

    def encode(self, texts):
        out = np.zeros((len(texts), 3), dtype=np.float32)
        for row, text in enumerate(texts):
            for word, axis in self.AXES.items():
                if word in text.lower():
                    out[row, axis] += 1
            out[row, 2] = 0.05
        return out


def test_embedding_similarity_finds_items_without_shared_words(generated_catalog):
    # "trainers" is in no title: only the encoder relates it to shoes
    without = catalog.search("trainers", limit=5)
    assert without.items == []
    with_encoder = catalog.search("trainers", limit=5, encoder=_ToyEncoder())
    assert with_encoder.items and all(hit.category == "Shoes" for hit in with_encoder.items)


def test_index_follows_catalog_changes(generated_catalog):
    from ecom_ai.models import Item

    assert catalog.search("unicorn lamp").items == []
    Item.objects.create(key="uni", title="Unicorn Lamp", category="Home Decor", price=Decimal("25"))
    assert [hit.key for hit in catalog.search("unicorn lamp").items] == ["uni"]
    Item.objects.filter(key="uni").update(is_active=False)
    assert catalog.search("unicorn lamp").items == []


def test_chat_wrapper_answers_in_the_query_language(generated_catalog, settings):
    from ecom_ai.chat import catalog_search

    result = catalog_search.search("有没有50元以下的跑步鞋", limit=3)
    text, sources, facts = catalog_search.answer_parts(result, currency="USD")
    assert "50 USD以下" in text and "Running Shoes" in text
    assert sources[0]["type"] == "product"
    assert {"price_limit": "50 USD以下"} in facts
    result = catalog_search.search("cat tree under 5")
    text, sources, _ = catalog_search.answer_parts(result, currency="USD")
    assert "under 5 USD" in text and "Cat Tree" in text


def test_chinese_leftover_words_do_not_dilute_the_match(generated_catalog):
    result = catalog.search("跑步用的鞋", limit=5)
    assert result.items and all("Running Shoes" in hit.title for hit in result.items)


def test_chinese_catalog_is_matched_by_character_pairs(db):
    from ecom_ai.models import Item

    Item.objects.bulk_create(
        [
            Item(key="z1", title="轻便跑步鞋", category="鞋", price=Decimal("199")),
            Item(key="z2", title="保温水杯", category="运动", price=Decimal("59")),
        ]
    )
    catalog.clear_index()
    try:
        assert [hit.key for hit in catalog.search("有没有200元以下的跑步鞋").items] == ["z1"]
        assert catalog.search("跑步鞋 100元以下").items == []
    finally:
        catalog.clear_index()
