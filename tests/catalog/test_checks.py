"""System checks: every check id fires on its misconfiguration with a message that says what to fix."""

import pytest
from django.conf import settings
from django.test import override_settings

from ecom_ai.adapters import DefaultShopAdapter
from ecom_ai.checks import check_settings

from .conftest import GADGET_SETTINGS

BASE = {"PRODUCT_MODEL": "shop.Product", "PRODUCT_FIELDS": {"in_stock": "stock"}}


def run(ecom_ai=None, **django_settings):
    with override_settings(**({"ECOM_AI": ecom_ai} if ecom_ai is not None else {}), **django_settings):
        return check_settings()


def ids(messages):
    return [m.id for m in messages]


def only(messages, check_id):
    found = [m for m in messages if m.id == check_id]
    assert found, f"{check_id} not raised; got {ids(messages)}"
    return found


def test_project_settings_are_clean():
    assert run() == []
    assert run(GADGET_SETTINGS) == []


@pytest.mark.parametrize(
    "value, text",
    [
        (["not", "a dict"], "ECOM_AI must be a dict, not list"),
        (
            {"PRODUCT_MODLE": "shop.Product"},
            "'PRODUCT_MODLE'] is not a known setting (see docs/settings.md). Did you mean 'PRODUCT_MODEL'?",
        ),
        ({"MAX_BATCH_SIZE": "500"}, "'MAX_BATCH_SIZE'] must be int, got str '500'"),
        ({"TRACK_STAFF": 1}, "'TRACK_STAFF'] must be bool"),
        ({"MAX_BATCH_SIZE": True}, "'MAX_BATCH_SIZE'] must be int, got bool"),
        ({"MAX_BATCH_SIZE": 0}, "must be between 1 and 100000"),
        ({"PRODUCT_FIELDS": ["title"]}, "'PRODUCT_FIELDS'] must be dict"),
        ({"PRODUCT_FIELDS": {"titel": "name"}}, "unknown field name(s) 'titel' (known: title, text"),
        ({"ORDER_FIELDS": {"total": 3}}, "attribute path (str) or None; not so for 'total'"),
    ],
)
def test_e001_bad_settings(value, text):
    messages = run(value)
    errors = only(messages, "ecom_ai.E001")
    assert any(text in e.msg for e in errors), [e.msg for e in errors]
    assert "docs/settings.md" in errors[0].hint


def test_e002_adapter_not_importable():
    [error] = only(run({**BASE, "ADAPTER": "shop.nowhere.Adapter"}), "ecom_ai.E002")
    assert "'shop.nowhere.Adapter' cannot be imported" in error.msg
    assert error.hint


def test_e002_adapter_of_wrong_class():
    [error] = only(run({**BASE, "ADAPTER": "decimal.Decimal"}), "ecom_ai.E002")
    assert "is not a subclass of ecom_ai.adapters.DefaultShopAdapter" in error.msg
    assert "Subclass DefaultShopAdapter" in error.hint


@pytest.mark.parametrize("label", ["shop.Produkt", "nope.Missing", "Product"])
def test_e003_unknown_model(label):
    [error] = only(run({**BASE, "PRODUCT_MODEL": label}), "ecom_ai.E003")
    assert f"ECOM_AI['PRODUCT_MODEL'] = {label!r} is not an installed model" in error.msg
    assert "app_label.ModelName" in error.hint
    [error] = only(run({**BASE, "ORDER_MODEL": label}), "ecom_ai.E003")
    assert "ORDER_MODEL" in error.msg


def test_e004_field_mapping_names_missing_field():
    messages = run({**BASE, "PRODUCT_FIELDS": {"in_stock": "stock", "title": "name", "category": "category.label"}})
    errors = only(messages, "ecom_ai.E004")
    texts = " | ".join(e.msg for e in errors)
    assert "ECOM_AI['PRODUCT_FIELDS']['title'] = 'name': Product has no field or attribute 'name'" in texts
    assert "['category'] = 'category.label': Category has no field or attribute 'label'" in texts
    assert "Map 'title' to a field of shop.Product, or to None." in [e.hint for e in errors]


def test_e004_order_line_fields_are_checked_on_the_line_model():
    bad = {**GADGET_SETTINGS, "ORDER_FIELDS": {**GADGET_SETTINGS["ORDER_FIELDS"], "line_quantity": "quantity"}}
    [error] = only(run(bad), "ecom_ai.E004")
    assert "['line_quantity'] = 'quantity': PurchaseLine has no field or attribute 'quantity'" in error.msg
    assert "testapp.PurchaseLine" in error.hint


def test_e004_accepts_reverse_managers_methods_and_properties():
    ok = {**GADGET_SETTINGS, "PRODUCT_FIELDS": {**GADGET_SETTINGS["PRODUCT_FIELDS"], "text": "get_absolute_url"}}
    assert "ecom_ai.E004" not in ids(run(ok))


def test_e005_unknown_storage_alias():
    [error] = only(run({**BASE, "ARTIFACT_STORAGE": "models"}), "ecom_ai.E005")
    assert "'models' is not in STORAGES (aliases: default, staticfiles)" in error.msg


def test_e006_text_encoder_not_importable():
    [error] = only(run({**BASE, "TEXT_ENCODER": "nowhere.Encoder"}), "ecom_ai.E006")
    assert "'nowhere.Encoder' cannot be imported" in error.msg


def test_w001_middleware_missing():
    middleware = [m for m in settings.MIDDLEWARE if "VisitorMiddleware" not in m]
    [warning] = only(run(MIDDLEWARE=middleware), "ecom_ai.W001")
    assert "ecom_ai.events.middleware.VisitorMiddleware is not in MIDDLEWARE" in warning.msg


def test_w002_no_product_model():
    [warning] = only(run({}), "ecom_ai.W002")
    assert "PRODUCT_MODEL'] is not set" in warning.msg


def test_w003_unmapped_product_default_that_does_not_fit():
    partial = {
        "PRODUCT_MODEL": "testapp.Gadget",
        "PRODUCT_FIELDS": {"title": "name", "price": "cost", "in_stock": "available", "text": None},
    }
    [warning] = only(run(partial), "ecom_ai.W003")
    assert warning.msg == (
        "ECOM_AI['PRODUCT_FIELDS']['category'] is not set and its default 'category.name' does not "
        "fit testapp.Gadget: Gadget has no field or attribute 'category', so each item gets no "
        "category value from your products."
    )
    assert 'Add "category": "<field of testapp.Gadget>"' in warning.hint
    assert "ecom_ai.E004" not in ids(run(partial))
    # mapping it to None silences the warning
    assert "ecom_ai.W003" not in ids(
        run({**partial, "PRODUCT_FIELDS": {**partial["PRODUCT_FIELDS"], "category": None}})
    )


def test_w004_no_availability_at_all():
    # the default 'in_stock' does not fit Gadget: no item could ever be recommended
    partial = {
        "PRODUCT_MODEL": "testapp.Gadget",
        "PRODUCT_FIELDS": {"title": "name", "category": "family", "price": "cost", "text": "blurb"},
    }
    [warning] = only(run(partial), "ecom_ai.W004")
    assert warning.msg.startswith(
        "ECOM_AI['PRODUCT_FIELDS']['in_stock'] is not set and its default 'in_stock' does "
        "not fit testapp.Gadget: Gadget has no field or attribute 'in_stock'"
    )
    assert "items get no in_stock value, a missing availability means 'not available'" in warning.msg
    assert "override is_available(product)" in warning.hint
    assert "ecom_ai.W003" not in ids(run(partial))  # one warning for one cause
    # mapped to None on purpose: still no availability
    [warning] = only(
        run({**partial, "PRODUCT_FIELDS": {**partial["PRODUCT_FIELDS"], "in_stock": None}}), "ecom_ai.W004"
    )
    assert "['in_stock'] is None" in warning.msg
    # an adapter that decides availability itself needs no field
    assert "ecom_ai.W004" not in ids(run({**partial, "ADAPTER": "tests.catalog.test_checks.AlwaysAvailable"}))
    assert "ecom_ai.W004" not in ids(run(GADGET_SETTINGS))


class AlwaysAvailable(DefaultShopAdapter):
    def is_available(self, product):
        return True


# --- ORDER_FIELDS: every default is checked against the host's order (and line) model ---------

SANDBOX_NAMES_ON_GADGETS = {
    "PRODUCT_MODEL": "testapp.Gadget",
    "ORDER_MODEL": "testapp.Purchase",
    "PRODUCT_FIELDS": GADGET_SETTINGS["PRODUCT_FIELDS"],
}


def test_order_defaults_that_do_not_fit_are_reported():
    """A docs-only integration whose order fields differ from the defaults cannot pass check silently."""
    messages = run(SANDBOX_NAMES_ON_GADGETS)
    warnings = {m.msg.split("]")[1].strip("['"): m for m in only(messages, "ecom_ai.W005")}
    assert set(warnings) == {"email", "total", "currency", "status", "lines"}
    assert warnings["total"].msg == (
        "ECOM_AI['ORDER_FIELDS']['total'] is not set and its default 'total' does not fit testapp.Purchase: "
        "Purchase has no field or attribute 'total', so fraud scoring sees no amount (every order is 'amount "
        "missing' and goes to review) and chat answers give no total."
    )
    assert 'Add "total": "<field of testapp.Purchase>"' in warnings["total"].hint
    errors = {m.msg.split("]")[1].strip("['"): m for m in only(messages, "ecom_ai.E007")}
    assert set(errors) == {"number", "user", "created_at"}
    assert errors["created_at"].msg.startswith(
        "ECOM_AI['ORDER_FIELDS']['created_at'] is not set and its default 'created_at' is not a database field of "
        "testapp.Purchase (Purchase has no field or attribute 'created_at'): a customer's orders are sorted by it"
    )
    assert "'date_placed'" in errors["created_at"].hint


def test_order_line_defaults_are_checked_on_the_line_model():
    fields = {
        "number": "ref",
        "user": "buyer",
        "email": "contact_email",
        "total": "amount",
        "created_at": "placed",
        "lines": "items.all",
        "status": None,
        "currency": None,
    }
    messages = run({**SANDBOX_NAMES_ON_GADGETS, "ORDER_FIELDS": fields})
    warnings = only(messages, "ecom_ai.W005")
    assert sorted(w.msg.split("]")[1].strip("['") for w in warnings) == ["line_price", "line_product", "line_quantity"]
    assert "fits" not in " ".join(w.msg for w in warnings)
    assert any(
        "testapp.PurchaseLine: PurchaseLine has no field or attribute 'price', so purchase events carry no "
        "value" in w.msg
        for w in warnings
    )
    assert "ecom_ai.E007" not in ids(messages)


def test_e007_query_fields_must_be_database_fields():
    fields = {**GADGET_SETTINGS["ORDER_FIELDS"], "created_at": "placed.date"}  # a method of the datetime
    [error] = only(run({**GADGET_SETTINGS, "ORDER_FIELDS": fields}), "ecom_ai.E007")
    assert error.msg.startswith(
        "ECOM_AI['ORDER_FIELDS']['created_at'] = 'placed.date' is not a database field of "
        "testapp.Purchase: a customer's orders are sorted by it"
    )
    # None is allowed: the orders are then sorted by primary key
    assert "ecom_ai.E007" not in ids(
        run({**GADGET_SETTINGS, "ORDER_FIELDS": {**GADGET_SETTINGS["ORDER_FIELDS"], "created_at": None}})
    )
