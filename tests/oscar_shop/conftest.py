"""A small Oscar catalogue (variants, stock records, a hidden product, a parent without stock)
and Oscar's own checkout driven with the test client."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

pytest.importorskip("oscar")

from tests.chat.conftest import chat_pack, pack_classifier  # noqa: E402,F401  the chat's fixtures, for order status


def pytest_configure(config):
    config.addinivalue_line(
        "filterwarnings", "ignore:(update|remove) is not implemented:UserWarning"
    )  # haystack's simple engine
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:oscar.*")
    config.addinivalue_line("filterwarnings", "ignore:Using Category.:DeprecationWarning")  # treebeard 7 on Oscar 4.2


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Forget what earlier tests left in this process (their rows were rolled back)."""
    from django.core.cache import cache

    from ecom_ai.recommend import cooccurrence, facts, popularity, service

    def clear():
        cache.clear()
        popularity.clear_trending_cache()
        cooccurrence.clear_live_cache()
        service.clear_placement_cache()
        service.clear_version_cache()
        facts.clear_cache()

    clear()
    yield
    clear()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs what the block queued for the commit (the test's transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def oscar_catalog(db, committed):
    """Products as an Oscar shop keeps them, created the way Oscar's dashboard does (product
    first, then its stock records and category links), so the mirror is filled by signals."""
    from oscar.apps.address.models import Country
    from oscar.apps.catalogue.models import Category, Product, ProductCategory, ProductClass
    from oscar.apps.partner.models import Partner, StockRecord

    Country.objects.create(
        iso_3166_1_a2="GB",
        iso_3166_1_a3="GBR",
        iso_3166_1_numeric="826",
        printable_name="UK",
        name="United Kingdom",
        is_shipping_country=True,
    )
    Country.objects.create(
        iso_3166_1_a2="US",
        iso_3166_1_a3="USA",
        iso_3166_1_numeric="840",
        printable_name="USA",
        name="United States",
        is_shipping_country=True,
    )
    partner = Partner.objects.create(name="Warehouse")
    kind = ProductClass.objects.create(name="Clothing", slug="clothing", track_stock=True)
    books = ProductClass.objects.create(name="Books", slug="books", track_stock=True)
    clothing = Category.add_root(name="Clothing", slug="clothing")
    reading = Category.add_root(name="Reading", slug="reading")
    sku = iter(range(1, 1000))

    def product(title, product_class=books, category=reading, price=None, stock=None, **kwargs):
        with committed():
            item = Product.objects.create(title=title, product_class=product_class, **kwargs)
            if category is not None:
                ProductCategory.objects.create(product=item, category=category)
            if price is not None:
                StockRecord.objects.create(
                    product=item,
                    partner=partner,
                    partner_sku=f"SKU{next(sku)}",
                    price_currency="USD",
                    price=Decimal(price),
                    num_in_stock=stock,
                )
        return item

    tee = product("Oscar Tee", product_class=kind, category=clothing, structure="parent")
    hoodie = product("Empty Hoodie", product_class=kind, category=clothing, structure="parent")
    shop = {
        "book": product("Django for Shops", price="20.00", stock=10, description="<p>A <b>book</b></p>"),
        "novel": product("A Quiet Novel", price="12.00", stock=5),
        "tee": tee,
        "tee_s": product("", product_class=None, category=None, structure="child", parent=tee, price="15.00", stock=5),
        "tee_m": product(
            "Oscar Tee M", product_class=None, category=None, structure="child", parent=tee, price="16.00", stock=3
        ),
        "hidden": product("Hidden Mug", price="8.00", stock=50, is_public=False),
        "hoodie": hoodie,
        "hoodie_xl": product(
            "Empty Hoodie XL",
            product_class=None,
            category=None,
            structure="child",
            parent=hoodie,
            price="40.00",
            stock=0,
        ),
        "unstocked": product("Not In Any Warehouse"),
        "sold_out": product("Sold Out Atlas", price="30.00", stock=0),
        "partner": partner,
    }
    return shop


ADDRESS = {
    "first_name": "Ann",
    "last_name": "Buyer",
    "line1": "1 High Street",
    "line4": "Bristol",
    "postcode": "BS1 4DJ",
    "country": "GB",
    "phone_number": "",
}


def add_to_basket(client, product, quantity=1):
    response = client.post(f"/basket/add/{product.pk}/", {"quantity": quantity})
    assert response.status_code == 302, response.content[:500]
    return response


def oscar_checkout(client, email=None, **meta):
    """Oscar's own checkout, page by page (guest when ``email`` is given). Returns the order."""
    from oscar.apps.order.models import Order

    before = set(Order.objects.values_list("pk", flat=True))
    if email:
        response = client.post("/checkout/", {"username": email, "options": "anonymous"}, **meta)
        assert response.status_code == 302, response.content.decode()[:2000]
    response = client.post("/checkout/shipping-address/", ADDRESS, **meta)
    assert response.status_code == 302, re.findall(r'class="[^"]*error[^"]*"[^>]*>([^<]+)', response.content.decode())
    assert client.get("/checkout/shipping-method/", **meta).status_code == 302
    response = client.post("/checkout/preview/", {"action": "place_order"}, **meta)
    assert response.status_code == 302 and "thank-you" in response["Location"], response.content.decode()[:3000]
    [order] = Order.objects.exclude(pk__in=before)
    return order
