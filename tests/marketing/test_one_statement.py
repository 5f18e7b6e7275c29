"""A new decision written in one statement on PostgreSQL (``ecom_ai.marketing.store``): budget,
coupon and decision together or not at all; the ``MARKETING_DECISION_COMMIT`` setting; shops whose
adapter issues its own coupons keep the transactional path (SQLite too)."""

import random
import threading
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from ecom_ai import marketing
from ecom_ai.adapters import DefaultShopAdapter
from ecom_ai.marketing.coupons import CouponRefused
from ecom_ai.marketing.service import OfferService
from ecom_ai.models.marketing import Campaign, Coupon, OfferDecision
from tests.marketing.conftest import who

pytestmark = pytest.mark.django_db


class HostCoupons(DefaultShopAdapter):
    """A shop with its own voucher system."""

    issued: list = []

    def issue_coupon(self, customer, offer) -> str:
        self.issued.append((customer.user_key, offer.key))
        return f"HOST-{customer.user_key.upper()}"


def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (ECOM_AI_TEST_DB=postgres)")


@contextmanager
def statements():
    """The statements this thread's connection runs: ``(sql, autocommit, in a transaction block)``."""
    seen: list = []

    def record(execute, sql, params, many, context):
        seen.append((sql, connection.get_autocommit(), connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def writes(seen) -> list:
    return [s for s in seen if not s[0].lstrip().upper().startswith("SELECT")]


def spent(campaign) -> Decimal:
    return Campaign.objects.get(pk=campaign.pk).spent_total


def test_budget_exhausted_stores_no_offer_and_no_coupon(campaign, service):
    campaign.total_budget = Decimal("2.00")  # the 10 % offer reserves 2.50
    campaign.save()
    result = service.decide(who(1), campaign.slug)
    assert result.offer is None and result.coupon_code == ""
    assert result.reasons[-1] == "budget exhausted: ten not given"
    decision = OfferDecision.objects.get(pk=result.decision_id)
    assert (decision.offer_id, decision.cost, decision.for_learning, decision.coupon_code) == (
        None,
        Decimal("0"),
        False,
        "",
    )
    assert decision.reasons == result.reasons and decision.policy == "fixed" and decision.sequence == 1
    assert decision.expires_at == decision.created_at + timedelta(days=campaign.decision_days)
    assert Coupon.objects.count() == 0 and spent(campaign) == Decimal("0")
    again = service.decide(who(1), campaign.slug)
    assert again.sticky and again.decision_id == result.decision_id and again.offer is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_decision_is_one_statement_in_autocommit_and_its_code_redeems_once(campaign, service):
    needs_postgres()
    with statements() as seen:
        result = service.decide(who(1), campaign.slug)
    [(sql, autocommit, in_block)] = writes(seen)  # budget + coupon + decision: one statement, no BEGIN
    assert sql.startswith("WITH budget AS (UPDATE") and autocommit and not in_block
    assert result.arm == "ten" and len(result.coupon_code) == 14  # XXXX-XXXX-XXXX
    decision = OfferDecision.objects.get(pk=result.decision_id)
    coupon = Coupon.objects.get()
    assert decision.coupon_code == coupon.code == result.coupon_code.replace("-", "")
    assert (coupon.user_key, coupon.offer_id, coupon.campaign_id) == ("user-1", decision.offer_id, campaign.pk)
    assert coupon.expires_at == decision.created_at + timedelta(days=14)
    assert decision.cost == Decimal("2.50") == spent(campaign)
    assert decision.for_learning and decision.reasons == result.reasons and decision.expires_at == result.expires_at
    assert marketing.redeem(result.coupon_code, order_key="o-1", order_value=Decimal("50")).discount == Decimal("5.00")
    with pytest.raises(CouponRefused) as info:
        marketing.redeem(result.coupon_code, order_key="o-2")
    assert info.value.reason == "redeemed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lost_race_spends_nothing_and_returns_the_winners_decision(campaign):
    needs_postgres()
    winner = OfferService(rng=random.Random(1)).decide(who(1), campaign.slug)
    before = (spent(campaign), Coupon.objects.count())
    ten = campaign.offers.get(key="ten")
    # a second request that read the history before the winner stored decision number 1
    with statements() as seen:
        late = OfferService(rng=random.Random(2))._commit(
            1,
            ten,
            0.9,
            {"none": 0.05, "ten": 0.9, "ship": 0.05},
            ["late"],
            campaign=campaign,
            who=who(1),
            now=timezone.now(),
            state={},
            policy="fixed",
        )
    assert [s[0].split(None, 1)[0] for s in writes(seen)] == ["WITH"]  # tried once, failed whole
    assert late.sticky and late.decision_id == winner.decision_id and late.coupon_code == winner.coupon_code
    assert (spent(campaign), Coupon.objects.count()) == before
    assert OfferDecision.objects.filter(campaign=campaign).count() == 1


def test_a_lost_race_inside_the_callers_transaction_leaves_it_usable(campaign):
    """Inside ``atomic`` (ATOMIC_REQUESTS) the write runs in a savepoint: the loser's failure rolls
    back to it, and the caller's transaction goes on."""
    winner = OfferService(rng=random.Random(1)).decide(who(1), campaign.slug)
    with transaction.atomic():
        late = OfferService(rng=random.Random(2))._commit(
            1,
            campaign.offers.get(key="ten"),
            1.0,
            {"ten": 1.0},
            [],
            campaign=campaign,
            who=who(1),
            now=timezone.now(),
            state={},
            policy="fixed",
        )
        assert late.sticky and late.decision_id == winner.decision_id
        other = OfferService(rng=random.Random(3)).decide(who(2), campaign.slug)  # the transaction goes on
    assert other.arm == "ten" and spent(campaign) == Decimal("5.00") and Coupon.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_first_requests_spend_the_budget_exactly(campaign):
    """12 threads, 3 requests for each of 4 customers, budget for 3 offers of 2.50: exactly 3
    offers, 3 coupons, 7.50 spent, one decision per customer, each written by the one statement."""
    needs_postgres()
    campaign.total_budget = Decimal("7.50")
    campaign.save()
    barrier = threading.Barrier(12)
    results, errors, paths = [None] * 12, [], []

    def run(i):
        try:
            with statements() as seen:
                barrier.wait()
                results[i] = OfferService(rng=random.Random(i)).decide(who(f"racer-{i % 4}"), campaign.slug)
            paths.extend(s[0].split(None, 1)[0] for s in writes(seen))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert set(paths) == {"WITH"}
    decisions = OfferDecision.objects.filter(campaign=campaign)
    assert decisions.count() == 4 and decisions.filter(offer__isnull=False).count() == 3
    by_customer: dict = {}
    for i, r in enumerate(results):
        by_customer.setdefault(i % 4, set()).add((r.decision_id, r.arm, r.coupon_code))
    assert all(len(answers) == 1 for answers in by_customer.values())  # losers read the winner's decision
    assert spent(campaign) == Decimal("7.50") == sum((d.cost for d in decisions), Decimal("0"))
    assert sorted(Coupon.objects.values_list("code", flat=True)) == sorted(
        decisions.exclude(coupon_code="").values_list("coupon_code", flat=True)
    )


def test_a_shops_own_coupons_keep_the_transactional_path(campaign, service, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "ADAPTER": "tests.marketing.test_one_statement.HostCoupons"}
    HostCoupons.issued.clear()
    with statements() as seen:
        result = service.decide(who(1), campaign.slug)
    assert result.coupon_code == "HOSTUSER1" and HostCoupons.issued == [("user-1", "ten")]
    assert [s[0].split(None, 1)[0] for s in writes(seen)] == ["SAVEPOINT", "UPDATE", "INSERT", "RELEASE"]
    assert Coupon.objects.count() == 0 and spent(campaign) == Decimal("2.50")
    assert OfferDecision.objects.get(pk=result.decision_id).coupon_code == "HOSTUSER1"
    campaign.refresh_from_db()
    campaign.total_budget = Decimal("3.00")  # room for none more
    campaign.save()
    refused = service.decide(who(2), campaign.slug)
    assert refused.offer is None and HostCoupons.issued == [("user-1", "ten")]  # no code for a refused offer


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_async_commit_is_the_decisions_own_transaction_only(campaign, service, settings):
    needs_postgres()
    settings.ECOM_AI = {**settings.ECOM_AI, "MARKETING_DECISION_COMMIT": "async"}

    def synchronous_commit():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    assert synchronous_commit() == "on"
    with statements() as seen:
        service.decide(who(1), campaign.slug)
    [(sql, _autocommit, _block)] = writes(seen)
    assert "set_config('synchronous_commit', 'off', true)" in sql
    assert synchronous_commit() == "on"  # the connection's other statements keep theirs
    with statements() as seen, transaction.atomic():  # the caller's transaction: its commit decides
        service.decide(who(2), campaign.slug)
    assert not any("synchronous_commit" in s[0] for s in seen)
    # the transactional path (a shop's own coupons) sets it inside its own transaction
    settings.ECOM_AI = {**settings.ECOM_AI, "ADAPTER": "tests.marketing.test_one_statement.HostCoupons"}
    with statements() as seen:
        service.decide(who(3), campaign.slug)
    assert [s[2] for s in seen if "synchronous_commit" in s[0]] == [True]
    assert synchronous_commit() == "on"
    assert OfferDecision.objects.count() == 3 and spent(campaign) == Decimal("7.50")


@pytest.mark.postgres
def test_a_coupon_code_that_exists_is_drawn_again(campaign, service, monkeypatch):
    needs_postgres()
    Coupon.objects.create(code="AAAABBBBCCCC")
    draws = iter([["AAAABBBBCCCC"], ["DDDDEEEEFFFF"]])
    monkeypatch.setattr("ecom_ai.models.marketing.new_coupon_codes", lambda n: next(draws))
    result = service.decide(who(1), campaign.slug)
    assert result.coupon_code == "DDDD-EEEE-FFFF" and spent(campaign) == Decimal("2.50")
    assert Coupon.objects.filter(user_key="user-1").get().code == "DDDDEEEEFFFF"
