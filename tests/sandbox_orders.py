"""Sandbox-shop products and orders for the tests that need a host order (fraud, order bridge,
fault tests). Orders are created without sending ``order_placed``."""

from __future__ import annotations

import itertools
from decimal import Decimal

_seq = itertools.count(1)

ORDER_DEFAULTS = dict(
    email="buyer@example.com",
    total=Decimal("40.00"),
    currency="USD",
    shipping_country="US",
    billing_country="US",
    ip_address="203.0.113.5",
    device_id="dev-1",
    payment_fingerprint="card-1",
    channel="web",
)


def new_product(prefix: str = "", stock: int = 1000, price: Decimal = Decimal("20.00")):
    """A product in a category of its own (unique titles and slugs)."""
    from shop.models import Category, Product

    n = next(_seq)
    category = Category.objects.create(name=f"{prefix}Cat {n}", slug=f"{prefix.lower()}cat-{n}")
    return Product.objects.create(
        category=category, title=f"{prefix}Shirt {n}", slug=f"{prefix.lower()}shirt-{n}", price=price, stock=stock
    )


def new_order(product, quantity: int = 1, **fields):
    """An order of ``quantity`` × ``product``; ``fields`` override ``ORDER_DEFAULTS``."""
    from shop.models import Order, OrderLine

    order = Order.objects.create(**{**ORDER_DEFAULTS, **fields})
    OrderLine.objects.create(order=order, product=product, quantity=quantity, price=product.price)
    return order
