"""The default adapter against the sandbox shop (integer keys) and a UUID-keyed host app."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from ecom_ai.adapters import DefaultShopAdapter, get_adapter, resolve_path
from shop.ecom_ai_adapter import SandboxShopAdapter
from tests.testapp.models import Gadget, Purchase, PurchaseLine

pytestmark = pytest.mark.django_db


def test_configured_adapter_is_the_sandbox_one():
    assert isinstance(get_adapter(), SandboxShopAdapter)
    with override_settings(ECOM_AI={}):
        assert type(get_adapter()) is DefaultShopAdapter
        assert get_adapter().product_model is None
        assert list(get_adapter().iter_products()) == []
        assert get_adapter().get_products(["1"]) == {}


def test_item_record_of_sandbox_product(make_product):
    product = make_product(title="Blue Hat", category="Hats", price="5.5", stock=0)
    record = get_adapter().item_record(product)
    assert record.key == str(product.pk)
    assert (record.title, record.category, record.price, record.in_stock) == ("Blue Hat", "Hats", Decimal("5.5"), False)
    assert record.text == "About Blue Hat"


def test_get_products_skips_malformed_and_unknown_keys(make_product):
    a, b = make_product(), make_product()
    found = get_adapter().get_products([str(a.pk), str(b.pk), "abc", "", "999999", "1.5"])
    assert set(found) == {str(a.pk), str(b.pk)}
    assert found[str(a.pk)] == a


def test_item_record_of_uuid_gadget(gadget_settings):
    g = Gadget.objects.create(name="Drone", blurb="Flies", family="Toys", cost=Decimal("99.50"), available=True)
    record = get_adapter().item_record(g)
    assert record.key == str(g.uid)
    assert (record.title, record.text, record.category, record.price, record.in_stock, record.url) == (
        "Drone",
        "Flies",
        "Toys",
        Decimal("99.50"),
        True,
        f"/gadgets/{g.uid}/",
    )


def test_get_products_with_uuid_keys(gadget_settings):
    g = Gadget.objects.create(name="Drone")
    keys = [str(g.uid), "not-a-uuid", "42", str(uuid.uuid4()), str(g.uid).upper()]
    found = get_adapter().get_products(keys)
    assert list(found) == [str(g.uid)]
    assert list(get_adapter().iter_products()) == [g]


def test_order_record_of_uuid_purchase(gadget_settings):
    user = get_user_model().objects.create_user("ann", email="ann@example.com")
    g1, g2 = Gadget.objects.create(name="A"), Gadget.objects.create(name="B")
    purchase = Purchase.objects.create(
        ref="P-1", buyer=user, contact_email="orders@ann.example", amount=Decimal("30.00")
    )
    PurchaseLine.objects.create(purchase=purchase, gadget=g1, qty=2)
    PurchaseLine.objects.create(purchase=purchase, gadget=g2, qty=1)
    record = get_adapter().order_record(purchase)
    assert record.key == str(purchase.uid)
    assert (record.number, record.user_key, record.email, record.total) == (
        "P-1",
        str(user.pk),
        "orders@ann.example",
        Decimal("30.00"),
    )
    assert record.currency == "USD"  # not mapped: the default currency
    assert record.created_at == purchase.placed
    assert sorted((line.item_key, line.quantity) for line in record.lines) == sorted(
        [(str(g1.uid), 2), (str(g2.uid), 1)]
    )
    assert all(line.price is None for line in record.lines)
    assert list(get_adapter().user_orders(str(user.pk))) == [purchase]
    assert get_adapter().find_order("P-1") == purchase
    assert get_adapter().find_order("nope") is None


def test_order_record_of_guest_purchase_uses_contact_email(gadget_settings):
    purchase = Purchase.objects.create(ref="P-2", contact_email="guest@example.com", amount=Decimal("1"))
    record = get_adapter().order_record(purchase)
    assert (record.user_key, record.email, record.lines) == ("", "guest@example.com", [])


def test_resolve_path_handles_missing_things():
    class Obj:
        name = "x"
        nothing = None

        def upper(self):
            return "X"

    assert resolve_path(Obj(), "name") == "x"
    assert resolve_path(Obj(), "upper") == "X"
    assert resolve_path(Obj(), "missing.deeper", "d") == "d"
    assert resolve_path(Obj(), "nothing.deeper", "d") == "d"
    assert resolve_path(Obj(), None, "d") == "d"


def test_unroutable_product_url_does_not_break_records(make_product, monkeypatch):
    from django.urls import NoReverseMatch

    product = make_product()

    def broken():
        raise NoReverseMatch("no route")

    monkeypatch.setattr(product, "get_absolute_url", broken)
    assert get_adapter().item_record(product).url == ""


def test_product_queryset_joins_mapped_relations(make_product, django_assert_num_queries):
    for _ in range(3):
        make_product(category="Shoes")
    queryset = get_adapter().product_queryset()
    assert queryset.query.select_related == {"category": {}}
    with django_assert_num_queries(1):
        assert [get_adapter().item_record(p).category for p in get_adapter().iter_products()] == ["Shoes"] * 3
    keys = [str(p.pk) for p in queryset]
    with django_assert_num_queries(1):
        assert {get_adapter().item_record(p).category for p in get_adapter().get_products(keys).values()} == {"Shoes"}


def test_product_queryset_without_relations(gadget_settings):
    assert get_adapter().product_queryset().query.select_related is False
    with override_settings(ECOM_AI={}):
        assert get_adapter().product_queryset() is None
