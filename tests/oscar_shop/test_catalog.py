"""An Oscar catalogue mirrored through ecom_ai.contrib.oscar: variants are their parent's item,
price and availability come from Oscar's strategy, changes on stock records reach the mirror."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from ecom_ai.adapters import get_adapter
from ecom_ai.catalog.sync import sync_catalog
from ecom_ai.checks import check_settings
from ecom_ai.contrib.oscar.adapter import OscarShopAdapter
from ecom_ai.models import Item

pytestmark = pytest.mark.django_db


def items():
    return {i.key: i for i in Item.objects.all()}


def test_check_is_clean_with_the_oscar_adapter_and_flags_a_docs_only_integration():
    assert isinstance(get_adapter(), OscarShopAdapter)
    assert check_settings() == []
    # what a shop following the generic docs only gets: nothing passes silently any more
    with override_settings(ECOM_AI={"PRODUCT_MODEL": "catalogue.Product", "ORDER_MODEL": "order.Order"}):
        found = {(m.id, m.msg.split("]")[1].strip("['")) for m in check_settings()}
    assert {
        ("ecom_ai.E007", "created_at"),
        ("ecom_ai.W005", "total"),
        ("ecom_ai.W005", "line_price"),
        ("ecom_ai.W004", "in_stock"),
        ("ecom_ai.W003", "price"),
    } <= found
    # a wrong ORDER_FIELDS entry on top of the Oscar adapter is an error too
    with override_settings(
        ECOM_AI={"ADAPTER": "ecom_ai.contrib.oscar.OscarShopAdapter", "ORDER_FIELDS": {"total": "total_with_tax"}}
    ):
        [error] = [m for m in check_settings() if m.id == "ecom_ai.E004"]
    assert "['total'] = 'total_with_tax': Order has no field or attribute 'total_with_tax'" in error.msg


def test_signals_mirror_oscar_products_the_oscar_way(oscar_catalog):
    shop, mirror = oscar_catalog, items()
    # variants are never items of their own: one item per standalone or parent product
    assert set(mirror) == {
        str(shop[name].pk) for name in ("book", "novel", "tee", "hidden", "hoodie", "unstocked", "sold_out")
    }
    tee = mirror[str(shop["tee"].pk)]
    assert (tee.title, tee.category, tee.price, tee.in_stock, tee.is_active) == (
        "Oscar Tee",
        "Clothing",
        Decimal("16.00"),
        True,
        True,
    )  # the first public child's (newest first), as Oscar shows it
    book = mirror[str(shop["book"].pk)]
    assert (book.text, book.category, book.price, book.in_stock) == ("A book", "Reading", Decimal("20.00"), True)
    assert book.url == shop["book"].get_absolute_url()
    assert mirror[str(shop["hidden"].pk)].is_active is False  # is_public=False
    for unavailable in ("hoodie", "unstocked", "sold_out"):  # no stocked child, no stock record, none left
        assert mirror[str(shop[unavailable].pk)].in_stock is False, unavailable
    assert mirror[str(shop["unstocked"].pk)].price is None
    # the bulk sync agrees with the signals
    result = sync_catalog()
    assert (result.created, result.updated, result.deactivated) == (0, 0, 0)


def test_catalog_sync_costs_a_constant_number_of_queries(oscar_catalog, committed, django_assert_max_num_queries):
    from oscar.apps.catalogue.models import Product
    from oscar.apps.partner.models import StockRecord

    Item.objects.all().delete()
    with CaptureQueriesContext(connection) as few:
        sync_catalog()
    with committed():
        for n in range(12):  # more standalone products and more variants
            product = Product.objects.create(title=f"Extra {n}", product_class=oscar_catalog["book"].product_class)
            StockRecord.objects.create(
                product=product,
                partner=oscar_catalog["partner"],
                partner_sku=f"X{n}",
                price=Decimal("5.00"),
                num_in_stock=1,
            )
            child = Product.objects.create(title=f"Tee {n}", structure="child", parent=oscar_catalog["tee"])
            StockRecord.objects.create(
                product=child,
                partner=oscar_catalog["partner"],
                partner_sku=f"C{n}",
                price=Decimal("9.00"),
                num_in_stock=1,
            )
    Item.objects.all().delete()
    with django_assert_max_num_queries(len(few)):
        assert sync_catalog().created == 7 + 12


def test_stock_and_price_changes_reach_the_mirror(oscar_catalog, committed):
    shop = oscar_catalog
    record = shop["book"].stockrecords.get()
    with committed():
        record.price = Decimal("18.50")
        record.save()
    assert items()[str(shop["book"].pk)].price == Decimal("18.50")
    with committed():
        record.allocate(10)  # Oscar's checkout path: an UPDATE plus post_save
    assert items()[str(shop["book"].pk)].in_stock is False
    with committed():
        shop["novel"].stockrecords.all().delete()
    assert items()[str(shop["novel"].pk)].in_stock is False


def test_deleting_a_variant_keeps_its_parent(oscar_catalog, committed):
    shop = oscar_catalog
    with committed():
        shop["tee_m"].delete()
    tee = items()[str(shop["tee"].pk)]
    assert (tee.is_active, tee.in_stock, tee.price) == (True, True, Decimal("15.00"))  # now the S variant's
    with committed():
        shop["tee_s"].delete()
    assert items()[str(shop["tee"].pk)].in_stock is False  # a parent without children
    key = str(shop["tee"].pk)
    with committed():
        shop["tee"].delete()
    assert items()[key].is_active is False


def test_hiding_a_product_or_renaming_its_category(oscar_catalog, committed):
    shop = oscar_catalog
    with committed():
        shop["book"].is_public = False
        shop["book"].save()
    assert items()[str(shop["book"].pk)].is_active is False
    category = shop["novel"].categories.get()
    with committed():
        category.name = "Fiction"
        category.save()
    assert items()[str(shop["novel"].pk)].category == "Fiction"


def test_recommendations_never_show_variants_hidden_or_unavailable_products(oscar_catalog, client):
    import ecom_ai
    from ecom_ai.recommend.service import RecommendationService

    shop = oscar_catalog
    for name in ("book", "novel", "tee", "tee_s", "tee_m", "hidden", "hoodie", "hoodie_xl", "unstocked", "sold_out"):
        for visitor in range(3):  # everything is popular
            ecom_ai.track("view", visitor_key=f"v{visitor}", item_key=get_adapter().item_key(shop[name]))
    served = RecommendationService().recommend(None, "home", limit=20)
    assert {type(p).__name__ for p in served.products} == {"Product"}  # Oscar's own product objects
    assert {p.pk for p in served.products} == {shop["book"].pk, shop["novel"].pk, shop["tee"].pk}
