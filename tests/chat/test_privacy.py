"""The chat in user data export and erasure, logout on a shared browser, and a scan of every
ecom_ai table for an erased user's identifiers (issue 12, items 3 and 10)."""

import json
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import models
from django.test import Client
from django.urls import reverse

from ecom_ai.events.privacy import erase_user_data, export_user_data, registered_sections
from ecom_ai.models import Conversation, Message

URL = "/ecom-ai/api/v1/chat/messages/"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def say(client, text):
    response = client.post(URL, {"text": text}, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def visitor_of(client) -> str:
    from ecom_ai.conf import settings as ecom_settings

    return client.cookies[ecom_settings.VISITOR_COOKIE_NAME].value.split(":")[0]  # a signed "key:time:sig"


def test_chat_is_a_registered_privacy_section():
    assert "chat" in registered_sections()


def test_export_and_erase_cover_the_chat(chat_pack, shop):
    alice, bob = shop["alice"], shop["bob"]
    mine = Conversation.objects.create(user_key=str(alice.pk), visitor_key="v-alice")
    Message.objects.create(conversation=mine, sender="shopper", text="my mail is alice@example.com")
    Message.objects.create(
        conversation=mine,
        sender="bot",
        text="Order 1 has shipped. Tracking number: TRK-ALICE-1.",
        sources=[{"type": "order", "number": "1"}],
    )
    from ecom_ai.events.identity import identify

    identify("v-alice-phone", alice)
    anonymous = Conversation.objects.create(visitor_key="v-alice-phone")  # before she logged in on the phone
    Message.objects.create(conversation=anonymous, sender="shopper", text="hello")
    theirs = Conversation.objects.create(user_key=str(bob.pk), visitor_key="v-bob")
    Message.objects.create(conversation=theirs, sender="shopper", text="bob here")

    data = export_user_data(str(alice.pk))
    json.dumps(data)
    assert [c["id"] for c in data["chat"]] == [mine.pk, anonymous.pk]
    assert [m["text"] for m in data["chat"][0]["messages"]] == [
        "my mail is alice@example.com",
        "Order 1 has shipped. Tracking number: TRK-ALICE-1.",
    ]
    assert data["chat"][0]["messages"][1]["sources"] == [{"type": "order", "number": "1"}]

    counts = erase_user_data(str(alice.pk))
    assert counts["chat_conversations"] == 2 and counts["chat_messages"] == 3
    assert list(Conversation.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert list(Message.objects.values_list("text", flat=True)) == ["bob here"]
    assert export_user_data(str(alice.pk))["chat"] == []


def test_logout_hands_the_browsers_anonymous_chat_to_the_user(chat_pack, shop):
    client = Client()
    alice = shop["alice"]
    order = shop["alice_order"]
    say(client, f"where is my order {order.number}? my e-mail is alice@example.com")  # anonymous look-up
    history = client.get(URL).json()
    assert "TRK-ALICE-1" in json.dumps(history)
    visitor = visitor_of(client)
    client.force_login(alice)
    client.post(reverse("shop:logout"))  # the shop's logout view: Django's logout() sends user_logged_out
    # the next anonymous user of this browser (same visitor cookie) starts afresh
    assert visitor_of(client) == visitor
    after = client.get(URL).json()
    assert after["conversation"] is None and after["messages"] == []
    reply = say(client, "hello")
    assert "TRK-ALICE-1" not in json.dumps(reply)
    # alice still has her chat when she logs in again
    assert Conversation.objects.filter(user_key=str(alice.pk)).count() == 1
    elsewhere = Client()
    elsewhere.force_login(alice)
    assert "TRK-ALICE-1" in json.dumps(elsewhere.get(URL).json())


def test_logout_of_another_session_leaves_anonymous_chats_alone(chat_pack, shop):
    anonymous = Client()
    say(anonymous, "hello")
    other = Client()
    other.force_login(shop["bob"])
    other.post(reverse("shop:logout"))
    assert Conversation.objects.get().user_key == ""


# --- erasure that really erases: every ecom_ai table ---------------------------------------

SCANNED_FIELDS = (models.CharField, models.TextField, models.JSONField)


def scan_for(needles: list[str]) -> list[str]:
    """Where any of ``needles`` appears in a text, char or JSON column of an ecom_ai table."""
    found = []
    for model in apps.get_app_config("ecom_ai").get_models():
        names = [f.attname for f in model._meta.concrete_fields if isinstance(f, SCANNED_FIELDS)]
        if not names:
            continue
        for row in model._default_manager.values_list("pk", *names).iterator():
            pk, values = row[0], row[1:]
            for name, value in zip(names, values):
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                for needle in needles:
                    if needle in text:
                        found.append(f"{model._meta.label}#{pk}.{name} holds {needle!r}")
    return found


def test_erasure_leaves_nothing_of_the_user_in_any_ecom_ai_table(chat_pack, shop, django_user_model):
    """A customer uses everything (events on two devices, chat with an order look-up, fraud
    scoring, recommendations, a personal offer); after erasure no ecom_ai table holds their keys, e-mail or
    visitor keys, while another customer's data stays."""
    from shop.models import Order

    from ecom_ai.fraud.features import OrderFacts
    from ecom_ai.fraud.scoring import assess_facts
    from ecom_ai.recommend.service import ensure_default_placements

    ensure_default_placements()
    from ecom_ai.models.marketing import Campaign, Offer

    campaign = Campaign.objects.create(
        name="Scan", slug="scan", channels=["site"], control_percent=0.0, exploration_rate=0.0, frequency_cap=None
    )
    campaign.fixed_offer = Offer.objects.create(
        campaign=campaign, key="ten", title="10 % off", kind="percent_off", value=Decimal("10"), position=1
    )
    campaign.save()
    email = "carol.scan-7f3e@example.com"
    carol = django_user_model.objects.create_user("carol", email, "pw", pk=987654321)
    user_key = str(carol.pk)
    order = Order.objects.create(
        user=carol, email=email, total=Decimal("42.00"), status="shipped", tracking_number="TRK-CAROL-77"
    )
    laptop, phone = Client(), Client()
    for client in (laptop, phone):
        client.get(URL)  # visitor cookie
        client.post(
            "/ecom-ai/api/v1/events/",
            {"events": [{"event_type": "view", "item_key": "1", "context": {"email": email}}]},
            content_type="application/json",
        )
    say(laptop, f"where is order {order.number}? my e-mail is {email}")
    for client in (laptop, phone):  # the shop's login view: the visitor is stitched to carol
        assert client.post(reverse("shop:login"), {"username": "carol", "password": "pw"}).status_code == 302
    say(laptop, "and my other orders?")
    for client in (laptop, phone):
        client.post(
            "/ecom-ai/api/v1/events/",
            {"events": [{"event_type": "add_to_cart", "item_key": "2"}]},
            content_type="application/json",
        )
        assert client.get("/ecom-ai/api/v1/recommendations/", {"placement": "home"}).status_code == 200
        assert client.get("/ecom-ai/api/v1/offers/", {"campaign": "scan"}).status_code == 200  # a personal offer
    assess_facts(
        OrderFacts(
            order_key=f"scan-{order.pk}",
            number=str(order.number),
            user_key=user_key,
            email=email,
            ip="203.0.113.9",
            device="dev-carol-1",
            amount=Decimal("42.00"),
            currency="USD",
            visitor_key=visitor_of(laptop),
        )
    )
    # someone else, who must keep everything
    bob = shop["bob"]
    say_client = Client()
    say_client.force_login(bob)
    say(say_client, "hello, I am bob")
    bob_before = export_user_data(str(bob.pk))

    needles = [email, user_key, visitor_of(laptop), visitor_of(phone), "TRK-CAROL-77", "dev-carol-1", "203.0.113.9"]
    assert len(scan_for(needles)) > 8  # the test data really is everywhere
    from ecom_ai.models.marketing import OfferDecision

    assert {label.split("#")[0] for label in scan_for(needles)} >= {
        "ecom_ai.Event",
        "ecom_ai.Conversation",
        "ecom_ai.Message",
        "ecom_ai.FraudAssessment",
        "ecom_ai.RecommendationList",
        "ecom_ai.VisitorIdentity",
        OfferDecision._meta.label,
    }
    erase_user_data(user_key)
    leftovers = scan_for(needles)
    assert leftovers == [], "\n".join(leftovers)
    bob_after = export_user_data(str(bob.pk))
    assert bob_after["chat"] == bob_before["chat"] and bob_after["events"] == bob_before["events"]
