"""The order bridge: purchases recorded once per order line on commit, fraud assessed with the
request (also when the host's signal carries none), and ``order_recorded`` for other areas."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings

import ecom_ai
from ecom_ai.adapters import DefaultShopAdapter
from ecom_ai.events.middleware import current_request
from ecom_ai.models import Event
from ecom_ai.models.fraud import FraudAssessment
from ecom_ai.orders.bridge import purchase_event_id
from ecom_ai.signals import order_placed, order_recorded
from tests.catalog.conftest import GADGET_SETTINGS
from tests.testapp.models import Gadget, Purchase, PurchaseLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded():
    received = []

    def listener(sender, order, record, events, request, **kwargs):
        received.append({"order": order, "record": record, "events": events, "request": request})

    order_recorded.connect(listener)
    yield received
    order_recorded.disconnect(listener)


class CouponAdapter(DefaultShopAdapter):
    def order_coupon_codes(self, order):
        return ["WELCOME10", ""]

    def order_extra(self, order):
        return {"channel": "store"}


@pytest.fixture
def gadget_order(django_user_model):
    def make(ref="P-1", user=None, lines=((2, None), (1, None))):
        purchase = Purchase.objects.create(ref=ref, buyer=user, contact_email="g@example.com", amount=Decimal("30"))
        for quantity, _ in lines:
            PurchaseLine.objects.create(
                purchase=purchase, gadget=Gadget.objects.create(name="G", cost=10), qty=quantity
            )
        return purchase

    return make


def test_one_purchase_per_line_once_even_when_sent_again(
    gadget_order, recorded, django_user_model, django_capture_on_commit_callbacks
):
    user = django_user_model.objects.create_user("ann")
    settings = {
        **GADGET_SETTINGS,
        "ADAPTER": "tests.orders.test_bridge.CouponAdapter",
        "ORDER_FIELDS": {**GADGET_SETTINGS["ORDER_FIELDS"], "line_price": "gadget.cost"},
    }
    with override_settings(ECOM_AI=settings):
        purchase = gadget_order(user=user)
        with django_capture_on_commit_callbacks(execute=True):
            ecom_ai.record_order(purchase, assess=False)
            assert not Event.objects.exists()  # on commit only
        with django_capture_on_commit_callbacks(execute=True):
            order_placed.send(sender=Purchase, order=purchase, request=None)  # sent again: not counted twice
    events = list(Event.objects.order_by("quantity"))
    assert len(events) == 2
    lines = list(purchase.items.order_by("qty"))
    assert [(e.item_key, e.quantity, e.value) for e in events] == [
        (str(lines[0].gadget_id), 1, Decimal("10.00")),
        (str(lines[1].gadget_id), 2, Decimal("20.00")),
    ]
    assert {e.client_event_id for e in events} == {f"order:{purchase.uid}:{line.pk}" for line in lines}
    event = events[0]
    assert (event.event_type, event.source, event.channel, event.user_key) == (
        "purchase",
        "order",
        "store",
        str(user.pk),
    )
    assert event.context == {"order": "P-1", "order_key": str(purchase.uid), "coupons": ["WELCOME10"]}
    assert abs((event.occurred_at - purchase.placed).total_seconds()) < 1  # the order's time
    # the extension point: the order record (with its coupon codes) and the events written this time
    assert [len(r["events"]) for r in recorded] == [2, 0]
    assert recorded[0]["record"].coupon_codes == ["WELCOME10"] and recorded[0]["order"] == purchase


def test_a_rolled_back_order_records_nothing(make_order, recorded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                ecom_ai.record_order(make_order(), assess=False)
                raise RuntimeError("payment declined")
        except RuntimeError:
            pass
    assert not Event.objects.exists() and recorded == []


def test_a_guest_order_without_a_browser_gets_one_pseudo_visitor(make_order, django_capture_on_commit_callbacks):
    order = make_order()
    with django_capture_on_commit_callbacks(execute=True):
        ecom_ai.record_order(order, assess=False)
    event = Event.objects.get()
    assert event.user_key == "" and event.visitor_key == purchase_event_id(str(order.pk), "guest")


def test_event_ids_stay_within_the_column():
    long = purchase_event_id("x" * 150, "12")
    assert len(long) == 64 and long == purchase_event_id("x" * 150, "12") != purchase_event_id("x" * 150, "13")


def test_a_broken_adapter_never_breaks_the_checkout(
    make_order, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from ecom_ai.adapters import get_adapter

    monkeypatch.setattr(type(get_adapter()), "order_record", lambda self, order: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True):
        ecom_ai.record_order(make_order(), assess=False)
    assert "could not record the purchases of an order" in caplog.text


# --- the request when the host's signal carries none (django-oscar's order_placed) --------------

SYNC_FRAUD = {**settings.ECOM_AI, "FRAUD_ASYNC": False}


@override_settings(ROOT_URLCONF="tests.orders.urls", ECOM_AI=SYNC_FRAUD)
def test_order_placed_without_a_request_uses_the_current_one(client, make_order, django_capture_on_commit_callbacks):
    client.get("/hello/", REMOTE_ADDR="198.51.100.9")  # a visitor cookie first
    visitor = client.cookies["ecom_ai_vid"].value.split(":")[0]
    ecom_ai.track("add_to_cart", visitor_key=visitor, item_key="1")
    order = make_order(ip_address=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(f"/place/{order.pk}/", REMOTE_ADDR="198.51.100.9", HTTP_USER_AGENT="Tester")
    assert response.json() == {"current": True}
    assessment = FraudAssessment.objects.get(order_key=str(order.pk))
    assert assessment.ip == "198.51.100.9"
    assert assessment.features["cart_adds"] == 1  # the visitor's behaviour before the order
    assert Event.objects.get(event_type="purchase").visitor_key == visitor
    assert current_request() is None  # reset once the response is returned


@pytest.mark.django_db(transaction=True)
@override_settings(ROOT_URLCONF="tests.orders.urls", ECOM_AI=SYNC_FRAUD)
def test_the_current_request_is_known_under_asgi(async_client, make_order):
    """An async view (the middleware chain runs as coroutines): the ContextVar follows the request
    into the thread that runs the ORM code."""
    from asgiref.sync import async_to_sync

    order = make_order(ip_address=None)

    async def place():
        return await async_client.get(f"/place-async/{order.pk}/")

    response = async_to_sync(place)()
    assert response.json() == {"current": True, "same_request": True}
    assert FraudAssessment.objects.get(order_key=str(order.pk)).ip == "127.0.0.1"  # the ASGI scope's client


def test_orders_older_than_the_event_log_record_no_purchases(make_order, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from shop.models import Order

    old = make_order()
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    old.refresh_from_db()
    recent = make_order()
    Order.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=30))
    recent.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        ecom_ai.record_order(old, assess=False)
        ecom_ai.record_order(recent, assess=False)
    [event] = Event.objects.all()
    assert event.context["order"] == recent.number
    assert abs((event.occurred_at - recent.created_at).total_seconds()) < 1
