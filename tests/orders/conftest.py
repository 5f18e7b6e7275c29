from decimal import Decimal

import pytest

from tests.sandbox_orders import new_order, new_product


@pytest.fixture
def make_order(db):
    """A sandbox order with one line (a new product each), without sending order_placed."""

    def make(**fields):
        fields = {"total": Decimal("20.00"), "device_id": "", "payment_fingerprint": "", **fields}
        return new_order(new_product("Bridge ", stock=100), **fields)

    return make
