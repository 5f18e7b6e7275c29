from decimal import Decimal

import pytest


@pytest.fixture
def make_order(db):
    """A sandbox order with one line, without sending order_placed."""
    from shop.models import Category, Order, OrderLine, Product

    def make(**kwargs):
        category, _ = Category.objects.get_or_create(name="Bridge", slug="bridge")
        product = Product.objects.create(
            category=category, title="Mug", slug=f"mug-{Product.objects.count()}", price=Decimal("20.00"), stock=100
        )
        values = dict(
            email="buyer@example.com",
            total=Decimal("20.00"),
            currency="USD",
            shipping_country="US",
            billing_country="US",
            ip_address="203.0.113.5",
            channel="web",
        )
        values.update(kwargs)
        order = Order.objects.create(**values)
        OrderLine.objects.create(order=order, product=product, quantity=1, price=product.price)
        return order

    return make
