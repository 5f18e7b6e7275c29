"""Orders placed through Oscar's own checkout: purchases recorded once per line, fraud scored with
the request (Oscar's order_placed carries none), stock allocation reaching the mirror, chat
order status for guests and customers, the fraud badge on the dashboard's order page."""

from decimal import Decimal

import pytest

from ecom_ai.adapters import get_adapter
from ecom_ai.models import Event, Item
from ecom_ai.models.fraud import FraudAssessment

from .conftest import add_to_basket, oscar_checkout

pytestmark = pytest.mark.django_db

GUEST = "guest@example.com"


def visitor_of(client):
    return client.cookies["ecom_ai_vid"].value.split(":")[0]


@pytest.fixture
def guest_order(client, oscar_catalog, committed):
    """A guest who looked at the book, put two in the basket with a T-shirt (a variant) and bought
    all five copies of the novel, through Oscar's checkout."""
    shop = oscar_catalog
    client.get("/")
    assert client.get(shop["book"].get_absolute_url()).status_code == 200  # product_viewed -> a view event
    add_to_basket(client, shop["book"], 2)
    add_to_basket(client, shop["tee_s"])
    add_to_basket(client, shop["novel"], 5)
    with committed():
        order = oscar_checkout(client, email=GUEST, REMOTE_ADDR="198.51.100.20")
    return order


def test_guest_checkout_records_one_purchase_per_line_once(client, oscar_catalog, guest_order, committed):
    from oscar.apps.order.signals import order_placed
    from oscar.apps.order.utils import OrderCreator

    shop, order = oscar_catalog, guest_order
    purchases = {e.item_key: e for e in Event.objects.filter(event_type="purchase")}
    assert {key: (e.quantity, e.value) for key, e in purchases.items()} == {
        str(shop["book"].pk): (2, Decimal("40.00")),
        str(shop["tee"].pk): (1, Decimal("15.00")),  # the variant counts for its parent
        str(shop["novel"].pk): (5, Decimal("60.00")),
    }
    lines = {line.product_id: line.pk for line in order.lines.all()}
    assert purchases[str(shop["tee"].pk)].client_event_id == f"order:{order.pk}:{lines[shop['tee_s'].pk]}"
    assert {(e.visitor_key, e.user_key, e.source) for e in purchases.values()} == {(visitor_of(client), "", "order")}
    assert purchases[str(shop["book"].pk)].context == {"order": order.number, "order_key": str(order.pk)}

    with committed():  # Oscar's signal sent again: nothing counted twice
        order_placed.send(sender=OrderCreator, order=order, user=None)
    assert Event.objects.filter(event_type="purchase").count() == 3
    # the allocation at checkout reached the mirror: all five novels are sold
    assert Item.objects.get(key=str(shop["novel"].pk)).in_stock is False
    assert Item.objects.get(key=str(shop["book"].pk)).in_stock is True


def test_fraud_scoring_gets_the_request_oscar_does_not_pass(oscar_catalog, guest_order):
    assessment = FraudAssessment.objects.get(order_key=str(guest_order.pk))
    assert assessment.ip == "198.51.100.20"  # from the request being handled (ContextVar)
    assert (assessment.email, assessment.amount, assessment.order_number) == (
        GUEST,
        guest_order.total_incl_tax,
        guest_order.number,
    )
    features = assessment.features
    assert features["cart_adds"] == 3 and features["items_viewed"] == 1  # the visitor's behaviour before it
    assert (features["shipping_country"], features["currency"]) == ("GB", "USD")  # Oscar's address, read by the adapter
    codes = {reason.get("code") for reason in assessment.reasons}
    assert not codes & {"ip_missing", "email_missing", "amount_absurd"}, codes


@pytest.mark.usefixtures("chat_pack")
def test_logged_in_checkout_chat_order_status_and_dashboard_badge(
    client, oscar_catalog, committed, guest_order, django_user_model
):
    from django.test import Client

    from ecom_ai.chat.service import ChatService

    ann = django_user_model.objects.create_user("ann", "ann@example.com", "pw")
    shopper = Client()
    shopper.force_login(ann)
    add_to_basket(shopper, oscar_catalog["book"])
    with committed():
        order = oscar_checkout(shopper)
    assert order.user == ann
    assert Event.objects.get(event_type="purchase", context__order=order.number).user_key == str(ann.pk)

    service = ChatService()
    conversation = ChatService.start_conversation(visitor_key="v-ann", user=ann)
    mine = service.reply(conversation, f"where is my order {order.number}?", user=ann)
    assert mine.intent == "order_status"
    assert order.number in mine.text and "pending" in mine.text.lower()
    assert f"Total: {order.total_incl_tax} USD" in mine.text and f"Placed on {order.date_placed:%Y-%m-%d}" in mine.text
    listed = service.reply(
        ChatService.start_conversation(visitor_key="v-ann2", user=ann), "where is my order?", user=ann
    )  # a customer's orders, newest first (ORDER_FIELDS created_at = date_placed)
    assert order.number in listed.text and guest_order.number not in listed.text

    guest = service.reply(
        ChatService.start_conversation(visitor_key="v-guest"),
        f"where is order {guest_order.number}? my email is {GUEST}",
        user=None,
    )
    assert guest.sources[0]["type"] == "order" and guest_order.number in guest.text
    stranger = service.reply(
        ChatService.start_conversation(visitor_key="v-x"),
        f"where is order {guest_order.number}? my email is someone@example.com",
        user=None,
    )
    assert all(source["type"] != "order" for source in stranger.sources)

    staff = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(staff)
    page = client.get(f"/dashboard/orders/{guest_order.number}/")
    assert page.status_code == 200
    assert 'class="ecom-ai-fraud-badge' in page.content.decode()


def test_vouchers_are_the_orders_coupon_codes(guest_order):
    from oscar.apps.order.models import OrderDiscount

    OrderDiscount.objects.create(order=guest_order, category="Basket", voucher_code="SPRING10", amount=Decimal("1.00"))
    assert get_adapter().order_coupon_codes(guest_order) == ["SPRING10"]
    record = get_adapter().order_record(guest_order)
    assert record.coupon_codes == ["SPRING10"]
    assert (record.extra["shipping_country"], record.total, record.currency) == (
        "GB",
        guest_order.total_incl_tax,
        "USD",
    )
