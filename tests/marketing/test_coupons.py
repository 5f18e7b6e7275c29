"""Coupons: single use, refused when replayed/guessed/expired/someone else's; attribution through the
order bridge; erase/export; the budget race on PostgreSQL."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

import ecom_ai
from ecom_ai import marketing
from ecom_ai.adapters import OrderRecord
from ecom_ai.events import privacy
from ecom_ai.marketing.attribution import credit_order
from ecom_ai.marketing.coupons import CouponRefused
from ecom_ai.models.marketing import Coupon, OfferDecision
from tests.marketing.conftest import who

pytestmark = pytest.mark.django_db


def test_a_code_redeems_once(campaign, service):
    result = service.decide(who(1), campaign)
    redemption = marketing.redeem(result.coupon_code.lower(), order_key="order-1", order_value=Decimal("80"))
    assert redemption.discount == Decimal("8.00")
    decision = OfferDecision.objects.get(pk=result.decision_id)
    assert decision.redeemed_at and decision.order_key == "order-1" and decision.discount == Decimal("8.00")
    assert marketing.redeem(result.coupon_code, order_key="order-1").order_key == "order-1"  # same order: idempotent
    with pytest.raises(CouponRefused) as info:
        marketing.redeem(result.coupon_code, order_key="order-2")
    assert info.value.reason == "redeemed"


def test_guessed_expired_and_foreign_codes_are_refused(campaign, service):
    with pytest.raises(CouponRefused) as info:
        marketing.redeem("AAAA-BBBB-CCCC", order_key="o")
    assert info.value.reason == "unknown"
    result = service.decide(who(1), campaign)
    with pytest.raises(CouponRefused) as info:
        marketing.redeem(result.coupon_code, order_key="o", user_key="user-2")
    assert info.value.reason == "not_yours"
    Coupon.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(CouponRefused) as info:
        marketing.redeem(result.coupon_code, order_key="o", user_key="user-1")
    assert info.value.reason == "expired"


def test_an_order_with_the_code_credits_the_decision_and_others_convert(campaign, service):
    given = service.decide(who(1), campaign)
    campaign.fixed_offer = None  # the next customer gets "no offer"
    campaign.save()
    plain = service.decide(who(2), campaign)
    assert plain.offer is None
    credit_order(OrderRecord(key="A1", user_key="user-1", total=Decimal("50"), coupon_codes=[given.coupon_code]))
    credit_order(OrderRecord(key="B1", user_key="user-2", total=Decimal("30")))
    credit_order(OrderRecord(key="B1", user_key="user-2", total=Decimal("30")))  # re-sent: once
    first = OfferDecision.objects.get(pk=given.decision_id)
    assert (first.order_key, first.order_value, first.discount) == ("A1", Decimal("50.00"), Decimal("5.00"))
    assert first.redeemed_at is not None and first.net_revenue == Decimal("44.50")
    second = OfferDecision.objects.get(pk=plain.decision_id)
    assert second.converted_at and second.redeemed_at is None and second.order_value == Decimal("30.00")
    assert Coupon.objects.get(code=given.coupon_code.replace("-", "")).order_key == "A1"


def test_the_order_bridge_credits_through_the_adapters_codes(
    campaign, service, django_user_model, django_capture_on_commit_callbacks
):
    from shop.models import Category, Order, OrderLine, Product

    user = django_user_model.objects.create_user("ann")
    result = service.decide({"user_key": str(user.pk)}, campaign)
    cat = Category.objects.create(name="C", slug="c")
    product = Product.objects.create(category=cat, title="T", slug="t", price=Decimal("40.00"), stock=10)
    order = Order.objects.create(user=user, email="a@example.com", total=Decimal("40.00"), currency="USD")
    OrderLine.objects.create(order=order, product=product, quantity=1, price=product.price)
    marketing.redeem(result.coupon_code, order)  # the default store: the adapter reports the code for the order
    with django_capture_on_commit_callbacks(execute=True):
        ecom_ai.record_order(order, assess=False)
    decision = OfferDecision.objects.get(pk=result.decision_id)
    assert decision.redeemed_at and decision.order_value == Decimal("40.00") and decision.discount == Decimal("4.00")


def test_export_and_erase_cover_decisions_and_coupons(campaign, service):
    service.decide(who(1), campaign)
    service.decide(who(2), campaign)
    data = privacy.export_user_data("user-1")
    assert len(data["offers"]["decisions"]) == 1 and len(data["offers"]["coupons"]) == 1
    assert data["offers"]["decisions"][0]["offer__key"] == "ten"
    counts = privacy.erase_user_data("user-1")
    assert counts["offer_decisions"] == 1 and counts["coupons"] == 1
    assert OfferDecision.objects.filter(user_key="user-2").count() == 1  # nobody else's


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_processes_cannot_both_spend_the_last_budget(campaign):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (ECOM_AI_TEST_DB=postgres)")
    from ecom_ai.marketing import budget

    campaign.total_budget = Decimal("5.00")  # exactly two reservations of 2.50
    campaign.save()
    barrier = threading.Barrier(6)
    outcomes = []

    def spend():
        try:
            barrier.wait()
            outcomes.append(budget.reserve(campaign.pk, Decimal("2.50")))
        finally:
            connection.close()

    threads = [threading.Thread(target=spend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == [False] * 4 + [True] * 2
    campaign.refresh_from_db()
    assert campaign.spent_total == Decimal("5.00")


def test_margin_objective_uses_the_adapters_margin_when_it_gives_one(campaign, service, settings):
    from ecom_ai.adapters import DefaultShopAdapter
    from ecom_ai.marketing.report import campaign_report
    from ecom_ai.marketing.training import campaign_rows, reward_of

    # the adapter method: None by default, a Decimal when the shop knows its costs
    assert DefaultShopAdapter.order_margin(object.__new__(DefaultShopAdapter), object()) is None
    campaign.objective = "margin"
    campaign.save()
    given = service.decide(who(1), campaign.slug)
    plain = service.decide(who(2), campaign.slug)
    credit_order(
        OrderRecord(
            key="M1", user_key="user-1", total=Decimal("50"), margin=Decimal("20"), coupon_codes=[given.coupon_code]
        )
    )
    credit_order(OrderRecord(key="M2", user_key="user-2", total=Decimal("30")))  # margin unknown
    first = OfferDecision.objects.get(pk=given.decision_id)
    second = OfferDecision.objects.get(pk=plain.decision_id)
    assert first.order_margin == Decimal("20.00") and second.order_margin is None
    OfferDecision.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # settled
    rewards = {r["pk"]: reward_of(campaign, r) for r in campaign_rows(campaign)}
    assert rewards[first.pk] == pytest.approx(20 - 5 - 0.5)  # margin − discount − send cost
    assert rewards[second.pk] == pytest.approx(30 - 0 - 0.5)  # no margin, no code used: net revenue
    report = campaign_report(campaign)
    assert report["by_margin"] and report["rows"][0].revenue == pytest.approx(20 + 30)
