"""The sandbox's personal offers: seeded randomized history, the offer on the home page and in the
cart, and the checkout that accepts the code once."""

from decimal import Decimal

import pytest
from django.urls import reverse

from ecom_ai.models.marketing import Campaign, Coupon, OfferDecision
from shop.models import Order
from tests.sandbox.test_seed import TINY, seed
from tests.sandbox.test_shop import add, place

pytestmark = pytest.mark.django_db


def test_seed_creates_a_randomized_campaign_history():
    seed(*TINY)
    campaign = Campaign.objects.get(slug="welcome-back")
    decisions = OfferDecision.objects.filter(campaign=campaign)
    assert decisions.count() == 3 * 12
    learnable = decisions.filter(for_learning=True)
    assert all(abs(p - 1 / 3) < 1e-9 for p in learnable.values_list("propensity", flat=True))
    assert learnable.count() > 24
    assert not decisions.filter(is_control=True, offer__isnull=False).exists()
    assert {d.state.get("logged_in") for d in decisions} == {True}
    # numbered per customer, oldest first (the uniqueness that stops double decisions covers them)
    by_customer: dict = {}
    for subject, number in decisions.order_by("created_at").values_list("subject_key", "sequence"):
        by_customer.setdefault(subject, []).append(number)
    assert set(map(tuple, by_customer.values())) == {(1, 2, 3)}


@pytest.fixture
def offer_campaign(db):
    from ecom_ai.models.marketing import Offer

    campaign = Campaign.objects.create(
        name="Welcome back", slug="welcome-back", control_percent=0, exploration_rate=0, frequency_cap=None
    )
    ten = Offer.objects.create(campaign=campaign, key="ten", title="10 % off your next order", value=Decimal("10"))
    campaign.fixed_offer = ten
    campaign.save()
    return campaign


def test_home_and_cart_show_the_same_personal_offer_and_checkout_takes_the_code(
    client, catalog, shopper, offer_campaign
):
    client.force_login(shopper)
    home = client.get("/").content.decode()
    assert "10 % off your next order" in home
    code = OfferDecision.objects.get(user_key=str(shopper.pk)).coupon_code
    shown = f"{code[:4]}-{code[4:8]}-{code[8:]}"
    assert shown in home
    add(client, catalog["headphones"], 1)
    assert shown in client.get(reverse("shop:cart")).content.decode()  # sticky
    response, _ = place(client, coupon_code=shown.lower())
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    order = Order.objects.get()
    assert order.total == Decimal("71.91")  # 79.90 − 10 %
    assert Coupon.objects.get(code=code).order_key == str(order.pk)
    decision = OfferDecision.objects.get(user_key=str(shopper.pk))
    assert decision.redeemed_at and decision.discount == Decimal("7.99")
    add(client, catalog["headphones"], 1)  # the same code again: refused, no order
    response, _ = place(client, coupon_code=shown)
    assert response.status_code == 200 and "coupon_code" in response.context["form"].errors
    assert Order.objects.count() == 1


def test_checkout_refuses_a_guessed_or_foreign_code(client, catalog, shopper, other_shopper, offer_campaign):
    client.force_login(other_shopper)
    client.get("/")  # bob gets his code
    bobs = OfferDecision.objects.get(user_key=str(other_shopper.pk)).coupon_code
    client.force_login(shopper)
    add(client, catalog["headphones"], 1)
    for code in ("AAAA-BBBB-CCCC", bobs):
        response, _ = place(client, coupon_code=code)
        assert response.status_code == 200 and "coupon_code" in response.context["form"].errors
    assert not Order.objects.exists()
