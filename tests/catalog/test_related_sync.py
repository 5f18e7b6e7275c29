"""Price, stock and category kept on related host models (as django-oscar keeps them on stock
records and category links): prefetched catalog sync, re-sync of the owning items on commit,
and "missing availability means not available"."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from ecom_ai.adapters import DefaultShopAdapter, ItemRecord, get_adapter
from ecom_ai.catalog import sync as catalog_sync
from ecom_ai.catalog.sync import sync_catalog, sync_item
from ecom_ai.models import Item
from tests.testapp.models import Gadget, GadgetOffer, Tag

pytestmark = pytest.mark.django_db


class OfferAdapter(DefaultShopAdapter):
    related_models = {
        "testapp.GadgetOffer": "gadget",  # price and stock
        "testapp.Tag": "gadgets",  # a renamed tag changes the category of all its gadgets
        "testapp.Tag_gadgets": "gadget",  # the M2M links themselves
    }

    def is_listed(self, product):
        return not product.name.startswith("hidden")


RELATED_SETTINGS = {
    "ADAPTER": "tests.catalog.test_related_sync.OfferAdapter",
    "PRODUCT_MODEL": "testapp.Gadget",
    "PRODUCT_FIELDS": {
        "title": "name",
        "text": "blurb",
        "category": "tags.first.name",
        "price": "offers.first.price",
        "in_stock": "offers.first.stock",
    },
}


@pytest.fixture
def related_settings():
    with override_settings(ECOM_AI=RELATED_SETTINGS):
        yield


def make_gadgets(n, start=0, stock=3):
    tag = Tag.objects.create(name=f"Tag {start}")
    gadgets = []
    for i in range(start, start + n):
        gadget = Gadget.objects.create(name=f"G{i}")
        GadgetOffer.objects.create(gadget=gadget, price=Decimal("10.00") + i, stock=stock)
        tag.gadgets.add(gadget)
        gadgets.append(gadget)
    return gadgets, tag


def sync_queries():
    with CaptureQueriesContext(connection) as queries:
        sync_catalog(batch_size=500)
    return len(queries)


def test_the_default_adapter_prefetches_to_many_paths(related_settings):
    queryset = get_adapter().product_queryset()
    assert sorted(queryset._prefetch_related_lookups) == ["offers", "tags"]


def test_catalog_sync_costs_a_constant_number_of_queries(related_settings, django_assert_max_num_queries):
    make_gadgets(3)
    few = sync_queries()
    make_gadgets(20, start=3)
    Item.objects.all().delete()
    many = sync_queries()
    assert many == few, f"{few} queries for 3 products, {many} for 23: some are per product"
    Item.objects.all().delete()
    with django_assert_max_num_queries(few):
        result = sync_catalog()
    assert result.created == 23
    item = Item.objects.get(key=str(Gadget.objects.get(name="G4").pk))
    assert (item.category, item.price, item.in_stock) == ("Tag 3", Decimal("14.00"), True)


def test_first_on_a_prefetched_manager_follows_the_primary_key(related_settings):
    [gadget], _ = make_gadgets(1)
    GadgetOffer.objects.create(gadget=gadget, price=Decimal("99"), stock=0)  # a later offer
    [product] = get_adapter().get_products([str(gadget.pk)]).values()
    assert get_adapter().product_field(product, "price") == Decimal("10.00")


def test_related_changes_resync_the_owning_items_once_on_commit(
    related_settings, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # "committed" set-up
        gadgets, tag = make_gadgets(3)
    calls = []
    original = catalog_sync.sync_product_pks
    monkeypatch.setattr(catalog_sync, "sync_product_pks", lambda pks: calls.append(set(pks)) or original(pks))
    with django_capture_on_commit_callbacks(execute=True):
        for offer in GadgetOffer.objects.filter(gadget__in=gadgets[:2]):
            offer.stock, offer.price = 0, Decimal("5.00")
            offer.save()
        assert Item.objects.get(key=str(gadgets[0].pk)).in_stock is True  # not before the commit
    assert calls == [{gadgets[0].pk, gadgets[1].pk}]  # one batch for the whole transaction
    items = {i.key: i for i in Item.objects.all()}
    assert (items[str(gadgets[0].pk)].in_stock, items[str(gadgets[0].pk)].price) == (False, Decimal("5.00"))
    assert items[str(gadgets[2].pk)].in_stock is True

    with django_capture_on_commit_callbacks(execute=True):  # a renamed tag: all its gadgets
        tag.name = "Renamed"
        tag.save()
    assert set(Item.objects.values_list("category", flat=True)) == {"Renamed"}

    with django_capture_on_commit_callbacks(execute=True):  # the last offer deleted: unknown stock
        GadgetOffer.objects.filter(gadget=gadgets[2]).delete()
    item = Item.objects.get(key=str(gadgets[2].pk))
    assert (item.in_stock, item.price) == (False, None)


def test_m2m_links_through_a_related_model_resync(related_settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        gadgets, tag = make_gadgets(2)
        other = Tag.objects.create(name="Other")
    with django_capture_on_commit_callbacks(execute=True):
        tag.gadgets.remove(gadgets[0])  # reverse side
        gadgets[0].tags.add(other)  # forward side
    assert Item.objects.get(key=str(gadgets[0].pk)).category == "Other"
    with django_capture_on_commit_callbacks(execute=True):
        tag.gadgets.clear()  # the links are read before they go
    assert Item.objects.get(key=str(gadgets[1].pk)).category == ""


def test_related_sync_runs_at_once_outside_a_transaction(related_settings, transactional_db):
    [gadget], _ = make_gadgets(1)
    GadgetOffer.objects.filter(gadget=gadget).update(stock=0)  # no signal
    offer = GadgetOffer.objects.get(gadget=gadget)
    offer.price = Decimal("1.50")
    offer.save()  # autocommit: synced now
    item = Item.objects.get(key=str(gadget.pk))
    assert (item.in_stock, item.price) == (False, Decimal("1.50"))


def test_a_failing_related_sync_never_breaks_the_commit(
    related_settings, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        [gadget], _ = make_gadgets(1)
    monkeypatch.setattr(catalog_sync, "sync_product_pks", lambda pks: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True):
        GadgetOffer.objects.filter(gadget=gadget).first().save()
    assert "could not re-sync 1 product(s)" in caplog.text


def test_missing_availability_means_not_available(related_settings):
    gadget = Gadget.objects.create(name="No offer yet")  # saved before any stock record exists
    item = Item.objects.get(key=str(gadget.pk))
    assert item.in_stock is False
    assert ItemRecord(key="x").in_stock is False
    with override_settings(ECOM_AI={**RELATED_SETTINGS, "PRODUCT_FIELDS": {"in_stock": None}}):
        assert get_adapter().is_available(gadget) is False


def test_unlisted_products_are_kept_inactive(related_settings):
    [gadget], _ = make_gadgets(1)
    hidden = Gadget.objects.create(name="hidden thing")
    GadgetOffer.objects.create(gadget=hidden, price=1, stock=5)
    sync_catalog()
    assert Item.objects.get(key=str(hidden.pk)).is_active is False
    assert Item.objects.get(key=str(gadget.pk)).is_active is True
    hidden.name = "shown now"
    assert sync_item(hidden).is_active is True


def test_rolled_back_changes_are_not_synced_early(related_settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        [gadget], _ = make_gadgets(1)
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                offer = GadgetOffer.objects.get(gadget=gadget)
                offer.stock = 0
                offer.save()
                raise RuntimeError("checkout failed")
        except RuntimeError:
            pass
    assert Item.objects.get(key=str(gadget.pk)).in_stock is True
