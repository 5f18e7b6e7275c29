"""Racing requests on PostgreSQL (a real server, threads with their own connections): two first
requests of one customer store one decision; racing customers never overspend the budget."""

import random
import threading
from decimal import Decimal

import pytest
from django.db import connection

from ecom_ai.marketing.service import OfferService
from ecom_ai.models.marketing import Coupon, OfferDecision
from tests.marketing.conftest import who

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(n, target):
    """Run ``target(i)`` in ``n`` threads released at once; their results in thread order."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (ECOM_AI_TEST_DB=postgres)")
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_simultaneous_first_requests_of_one_customer_store_one_decision(campaign):
    campaign.exploration_rate = 1.0  # uniform draws: without the constraint the racers would differ
    campaign.save()
    for round_ in range(3):
        customer = who(f"racer-{round_}")
        results = _race(6, lambda i, c=customer: OfferService(rng=random.Random(i)).decide(c, campaign.slug))
        decisions = OfferDecision.objects.filter(campaign=campaign, subject_key=customer.subject_key)
        assert decisions.count() == 1
        winner = decisions.get()
        assert {r.decision_id for r in results} == {winner.pk}
        assert {r.arm for r in results} == {winner.arm}
        assert sum(not r.sticky for r in results) == 1  # the winner; the others read it
        # the losers' coupons and budget were rolled back with their transactions
        assert Coupon.objects.filter(user_key=customer.user_key).count() == (1 if winner.offer_id else 0)
    campaign.refresh_from_db()
    spent = sum((d.cost for d in OfferDecision.objects.filter(campaign=campaign)), Decimal("0"))
    assert campaign.spent_total == spent


def test_racing_customers_get_exactly_the_budget(campaign):
    campaign.total_budget = Decimal("5.00")  # exactly two offers of 2.50
    campaign.save()
    results = _race(6, lambda i: OfferService(rng=random.Random(i)).decide(who(f"budget-{i}"), campaign.slug))
    assert sorted(r.arm for r in results) == ["none"] * 4 + ["ten"] * 2
    assert all("budget exhausted" in r.reasons[-1] for r in results if r.arm == "none")
    campaign.refresh_from_db()
    assert campaign.spent_total == Decimal("5.00")
    assert OfferDecision.objects.filter(campaign=campaign, offer__isnull=False).count() == 2
    assert Coupon.objects.filter(campaign=campaign).count() == 2
