"""Catalog sync: signals, bulk sync, command and task, with integer-keyed and UUID-keyed host models."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from ecom_ai.catalog import receivers
from ecom_ai.catalog.sync import remove_item, sync_catalog, sync_item, sync_keys
from ecom_ai.models import Item
from ecom_ai.signals import item_synced
from shop.models import Product
from tests.testapp.models import Gadget

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced_keys():
    received = []

    def receiver(sender, keys, **kwargs):
        received.extend(keys)

    item_synced.connect(receiver)
    yield received
    item_synced.disconnect(receiver)


def test_saving_a_product_creates_and_updates_its_item(make_product, synced_keys):
    product = make_product(title="Red Shoe", category="Shoes", price="19.90", stock=3)
    item = Item.objects.get(key=str(product.pk))
    assert (item.title, item.category, item.price, item.in_stock, item.is_active) == (
        "Red Shoe",
        "Shoes",
        Decimal("19.90"),
        True,
        True,
    )
    assert item.text == "About Red Shoe"
    assert synced_keys == [str(product.pk)]

    product.stock = 0  # PRODUCT_FIELDS maps in_stock to the integer stock
    product.title = "Red Shoe v2"
    product.save()
    item.refresh_from_db()
    assert item.title == "Red Shoe v2"
    assert item.in_stock is False
    assert Item.objects.count() == 1


def test_deleting_a_product_deactivates_its_item(make_product, synced_keys):
    product = make_product()
    key = str(product.pk)
    product.delete()
    item = Item.objects.get(key=key)
    assert item.is_active is False
    assert synced_keys[-1] == key
    # saving a product with that key again reactivates it
    assert sync_item(
        Product(pk=int(key), title="Back", category=make_product().category, price=1, stock=1, slug="back")
    ).is_active


def test_remove_item_is_idempotent(make_product):
    product = make_product()
    assert remove_item(str(product.pk)) is True
    assert remove_item(str(product.pk)) is False
    assert remove_item("no-such-key") is False


def test_sync_catalog_creates_updates_and_deactivates(make_product, synced_keys):
    products = [make_product(price=str(10 + i)) for i in range(7)]
    Item.objects.all().delete()  # as if ecom_ai was installed after the products existed
    result = sync_catalog(batch_size=3)
    assert result.as_dict() == {"created": 7, "updated": 0, "unchanged": 0, "deactivated": 0, "skipped": 0}
    assert set(Item.objects.values_list("key", flat=True)) == {str(p.pk) for p in products}
    assert Item.objects.get(key=str(products[2].pk)).price == Decimal("12.00")

    # a host change made without signals (queryset.update), a deletion without signals, a stale item
    Product.objects.filter(pk=products[0].pk).update(title="Renamed", stock=0)
    Product.objects.filter(pk=products[1].pk)._raw_delete(Product.objects.db)
    Item.objects.create(key="999999", title="ghost")
    Item.objects.filter(key=str(products[3].pk)).update(is_active=False)  # must be reactivated

    synced_keys.clear()
    result = sync_catalog(batch_size=3)
    assert result.as_dict() == {"created": 0, "updated": 2, "unchanged": 4, "deactivated": 2, "skipped": 0}
    renamed = Item.objects.get(key=str(products[0].pk))
    assert (renamed.title, renamed.in_stock) == ("Renamed", False)
    assert not Item.objects.get(key=str(products[1].pk)).is_active
    assert not Item.objects.get(key="999999").is_active
    assert Item.objects.get(key=str(products[3].pk)).is_active
    assert set(synced_keys) == {str(products[0].pk), str(products[3].pk), str(products[1].pk), "999999"}

    # a second run changes nothing
    assert sync_catalog().as_dict() == {"created": 0, "updated": 0, "unchanged": 6, "deactivated": 0, "skipped": 0}


def test_sync_catalog_uses_few_queries(make_product, django_assert_max_num_queries):
    for _ in range(40):
        make_product(category="Same")
    Item.objects.all().delete()
    # products (category joined in), then per batch of 20: existing items, insert; then active keys
    with django_assert_max_num_queries(12):
        assert sync_catalog(batch_size=20).created == 40


def test_sync_catalog_rejects_bad_batch_size():
    with pytest.raises(ValueError):
        sync_catalog(batch_size=0)


def test_sync_keys_refreshes_selected_items(make_product):
    a, b = make_product(), make_product()
    Product.objects.filter(pk=a.pk).update(title="Changed")
    Product.objects.filter(pk=b.pk)._raw_delete(Product.objects.db)
    result = sync_keys([str(a.pk), str(b.pk), "not-an-int"])
    assert Item.objects.get(key=str(a.pk)).title == "Changed"
    assert not Item.objects.get(key=str(b.pk)).is_active
    assert (result.updated, result.deactivated) == (1, 1)


def test_a_failing_sync_never_breaks_the_host_save(make_product, monkeypatch, caplog):
    def broken(product):
        raise RuntimeError("adapter bug")

    monkeypatch.setattr("ecom_ai.catalog.sync.sync_item", broken)
    product = make_product(title="Still saved")
    assert Product.objects.filter(pk=product.pk).exists()
    assert "could not sync product" in caplog.text


def test_command_prints_counts(make_product):
    make_product(), make_product()
    Item.objects.all().delete()
    out = StringIO()
    call_command("ecom_ai_sync_catalog", "--batch-size", "1", stdout=out)
    assert "created=2 updated=0 unchanged=0 deactivated=0 skipped=0" in out.getvalue()
    assert Item.objects.count() == 2
    with pytest.raises(CommandError, match="at least 1"):
        call_command("ecom_ai_sync_catalog", "--batch-size", "0", stdout=StringIO())


def test_command_without_product_model_explains():
    with override_settings(ECOM_AI={}):
        with pytest.raises(CommandError, match="PRODUCT_MODEL"):
            call_command("ecom_ai_sync_catalog", stdout=StringIO())


def test_task_runs_the_sync(make_product, django_capture_on_commit_callbacks):
    from ecom_ai.tasks import dispatch
    from ecom_ai.tasks.catalog import sync_catalog as sync_task

    make_product()
    Item.objects.all().delete()
    assert sync_task.name == "ecom_ai.tasks.catalog.sync_catalog"
    assert sync_task.apply(kwargs={"batch_size": 10}, throw=True).get()["created"] == 1
    Item.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(sync_task, batch_size=5)  # no broker in tests: runs in-process after commit
    assert Item.objects.count() == 1


# --- UUID-keyed host model -----------------------------------------------------------------


def test_uuid_host_model_signals_and_bulk_sync(gadget_settings):
    assert receivers._connected_model is Gadget
    g = Gadget.objects.create(name="Phone", blurb="A phone", family="Phones", cost=Decimal("199.999"), available=False)
    item = Item.objects.get(key=str(g.uid))
    assert (item.title, item.text, item.category, item.price, item.in_stock, item.url) == (
        "Phone",
        "A phone",
        "Phones",
        Decimal("200.00"),
        False,
        f"/gadgets/{g.uid}/",
    )

    others = [Gadget.objects.create(name=f"G{i}", family="Misc") for i in range(4)]
    Item.objects.all().delete()
    result = sync_catalog(batch_size=2)
    assert result.created == 5
    assert Item.objects.filter(is_active=True).count() == 5

    key = str(others[0].uid)
    others[0].delete()
    assert not Item.objects.get(key=key).is_active
    result = sync_keys([key, str(g.uid), "not-a-uuid"])
    assert result.deactivated == 0 and result.unchanged == 1


def test_signals_follow_the_settings(make_product, gadget_settings):
    # while Gadget is the product model, saving a shop.Product does not touch the mirror
    make_product()
    assert not Item.objects.exists()


def test_signals_reconnect_after_override():
    assert receivers._connected_model is Product
    with override_settings(ECOM_AI={}):
        assert receivers._connected_model is None
    assert receivers._connected_model is Product


def test_misconfigured_product_model_does_not_break_anything(make_product):
    with override_settings(ECOM_AI={"PRODUCT_MODEL": "nope.Missing"}):
        assert receivers._connected_model is None
        make_product()  # no error
    assert receivers._connected_model is Product
