from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils.text import slugify

from shop.models import Category, Product

GADGET_SETTINGS = {
    "PRODUCT_MODEL": "testapp.Gadget",
    "ORDER_MODEL": "testapp.Purchase",
    "PRODUCT_FIELDS": {
        "title": "name",
        "text": "blurb",
        "category": "family",
        "price": "cost",
        "in_stock": "available",
    },
    "ORDER_FIELDS": {
        "number": "ref",
        "user": "buyer",
        "email": "contact_email",
        "total": "amount",
        "created_at": "placed",
        "lines": "items.all",
        "line_product": "gadget",
        "line_quantity": "qty",
        "status": None,
        "currency": None,
        "line_price": None,
    },
}


@pytest.fixture
def gadget_settings():
    with override_settings(ECOM_AI=GADGET_SETTINGS):
        yield


@pytest.fixture
def make_product(db):
    counter = {"n": 0}

    def make(title=None, category="Shoes", price="19.90", stock=5, **kwargs):
        counter["n"] += 1
        cat, _ = Category.objects.get_or_create(name=category, defaults={"slug": category.lower()})
        title = title or f"Product {counter['n']}"
        return Product.objects.create(
            category=cat,
            title=title,
            slug=slugify(f"p-{counter['n']}-{title}")[:50],
            description=f"About {title}",
            price=Decimal(price),
            stock=stock,
            **kwargs,
        )

    return make
