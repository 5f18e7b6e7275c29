"""Fixtures of the sandbox shop tests: a tiny catalog and logged-in shoppers."""

from decimal import Decimal

import pytest


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Pages render recommendation widgets: forget placements cached by earlier tests (their
    rows were rolled back) and throttle counters."""
    from django.core.cache import cache

    from ecom_ai.recommend import service

    service.clear_placement_cache()
    cache.clear()
    yield
    service.clear_placement_cache()


@pytest.fixture
def catalog(db):
    return sandbox_catalog()


def sandbox_catalog() -> dict:
    """Three products of the sandbox shop in two categories (the speaker nearly sold out, the
    novel out of stock); also used by the tracker's browser tests."""
    from shop.models import Category, Product

    audio = Category.objects.create(name="Audio", slug="audio")
    books = Category.objects.create(name="Books", slug="books")
    return {
        "headphones": Product.objects.create(
            category=audio,
            title="Sonora Wireless Headphones",
            slug="sonora-wireless-headphones",
            price=Decimal("79.90"),
            stock=5,
            description="Over-ear, 30 hours of battery.",
        ),
        "speaker": Product.objects.create(
            category=audio,
            title="Auralis Portable Speaker",
            slug="auralis-portable-speaker",
            price=Decimal("45.00"),
            stock=2,
        ),
        "novel": Product.objects.create(
            category=books,
            title="Foxglove Thriller Novel",
            slug="foxglove-thriller-novel",
            price=Decimal("12.50"),
            stock=0,
        ),
    }


@pytest.fixture
def shopper(db, django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice")


@pytest.fixture
def other_shopper(db, django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob")


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("clerk", "clerk@example.com", "pw-clerk", is_staff=True)
