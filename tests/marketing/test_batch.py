"""Batch decisions under the budget, the offers_decided signal, CSV export, bulk customer states."""

import io
import random
from decimal import Decimal

import pytest

from ecom_ai.marketing.batch import decide_batch, export_csv, load_states
from ecom_ai.marketing.state import Identity
from ecom_ai.models.marketing import Coupon, OfferDecision
from ecom_ai.signals import offers_decided

pytestmark = pytest.mark.django_db


def customers(n, start=0):
    return [
        (Identity(user_key=f"b-{i}", channel="email"), {"is_new": True, "orders_total": 0})
        for i in range(start, start + n)
    ]


def test_batch_spends_within_the_budget_and_announces(campaign, django_capture_on_commit_callbacks):
    campaign.total_budget = Decimal("25.00")  # ten offers of 2.50
    campaign.control_percent = 10.0
    campaign.exploration_rate = 0.2
    campaign.save()
    received = []
    offers_decided.connect(
        lambda sender, campaign, decisions, **kw: received.append(list(decisions)),
        weak=False,
        dispatch_uid="test-batch",
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = decide_batch(campaign, customers(100), rng=random.Random(0))
    finally:
        offers_decided.disconnect(dispatch_uid="test-batch")
    campaign.refresh_from_db()
    assert campaign.spent_total <= Decimal("25.00") and result.spent == campaign.spent_total
    assert result.decided == 100 and 3 < result.control < 20 and result.over_budget > 0
    given = OfferDecision.objects.filter(offer__isnull=False)
    assert sum(d.cost for d in given) == campaign.spent_total
    assert Coupon.objects.count() == given.exclude(coupon_code="").count()
    assert not OfferDecision.objects.filter(reasons__icontains="budget exhausted", for_learning=True).exists()
    assert len(received) == 1 and len(received[0]) == given.count()
    again = decide_batch(campaign, customers(100), rng=random.Random(0))  # sticky: nobody decided twice
    assert again.sticky == 100 and again.decided == 0
    out = io.StringIO()
    assert export_csv(campaign, out) == given.count()
    assert out.getvalue().splitlines()[0].startswith("decision,user_key")


def test_bulk_states_from_the_event_log(campaign):
    import ecom_ai

    ecom_ai.track("purchase", user_key="u1", item_key="i1", value="30", context={"order": "o1"})
    ecom_ai.track("view", user_key="u2", item_key="i1", channel="app")
    states = dict((who.user_key, state) for who, state in load_states(campaign))
    assert states["u1"]["orders_total"] == 1 and states["u1"]["monetary_365d"] == 30.0
    assert states["u2"]["share_app"] == 1.0 and states["u2"]["is_new"] is True


def test_batch_rows_read_back_like_single_decisions(campaign, service):
    """The bulk writer (COPY / executemany) stores what ``decide`` would: JSON, numbers, codes."""
    from datetime import timedelta

    from django.utils import timezone

    from ecom_ai import marketing

    campaign.exploration_rate = 0.5
    campaign.save()
    result = decide_batch(campaign, customers(30), rng=random.Random(1))
    rows = list(OfferDecision.objects.filter(batch=result.batch))
    assert len(rows) == 30 and {d.sequence for d in rows} == {1}
    given = [d for d in rows if d.offer_id]
    assert given and all(isinstance(d.probabilities, dict) and d.state["is_new"] is True for d in rows)
    assert all(abs(sum(d.probabilities.values()) - 1) < 1e-5 for d in rows)
    assert all(d.cost == d.offer.expected_cost for d in given)
    # the same customer through decide: sticky, the batch's code
    sticky = service.decide(given[0].user_key, campaign.slug)
    assert sticky.sticky and sticky.decision_id == given[0].pk
    # a stored code redeems once
    code = next(d.coupon_code for d in given if d.coupon_code)
    assert marketing.redeem(code, order_key="order-77")
    # after the window, the next batch gives decision number 2
    later = timezone.now() + timedelta(days=60)
    OfferDecision.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = decide_batch(campaign, customers(30), rng=random.Random(2), now=later)
    assert again.decided == 30 and set(
        OfferDecision.objects.filter(batch=again.batch).values_list("sequence", flat=True)
    ) == {2}
