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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_live_decision_stored_during_the_batch_is_kept_and_the_rest_written(campaign, monkeypatch):
    """A shopper decided on the site while the batch runs (between its read of the decision
    numbers and its write) keeps that decision; the batch writes everyone else instead of failing
    whole, and gives back the raced customer's budget and coupon. PostgreSQL: the live decision
    commits on its own connection while the batch's transaction is open."""
    import threading

    from django.db import connection

    from ecom_ai.marketing import batch
    from ecom_ai.models.marketing import Campaign

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (ECOM_AI_TEST_DB=postgres)")
    campaign.total_budget = Decimal("100.00")
    campaign.save()
    raced = customers(1, start=3)[0][0]
    real_insert, live = batch.bulk_insert, {}

    def live_decision_first(model, rows, **kwargs):
        if model is OfferDecision and not live:
            # the shopper's own request, on another connection, lands first (a control-group-like
            # row without budget: the batch holds the campaign row's lock)
            def store():
                try:
                    live["decision"] = OfferDecision.objects.create(
                        campaign=campaign,
                        subject_key=raced.subject_key,
                        user_key=raced.user_key,
                        sequence=1,
                        expires_at=campaign.starts_at.replace(year=2100),
                        propensity=1.0,
                    )
                finally:
                    connection.close()

            thread = threading.Thread(target=store)
            thread.start()
            thread.join(30)
        return real_insert(model, rows, **kwargs)

    monkeypatch.setattr(batch, "bulk_insert", live_decision_first)
    result = decide_batch(campaign, customers(10), rng=random.Random(0))
    assert live["decision"].pk
    assert result.decided == 9 and result.sticky == 1 and result.offers == 9
    assert OfferDecision.objects.filter(campaign=campaign).count() == 10
    assert list(OfferDecision.objects.filter(subject_key=raced.subject_key).values_list("pk", flat=True)) == [
        live["decision"].pk
    ]
    assert Coupon.objects.filter(campaign=campaign).count() == 9
    assert not Coupon.objects.filter(user_key=raced.user_key).exists()
    spent = Campaign.objects.get(pk=campaign.pk).spent_total
    assert spent == result.spent == Decimal("22.50")  # nine offers of 2.50: the raced one given back


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_budget_spent_by_live_decisions_during_the_batch_is_respected(campaign, monkeypatch):
    """Live decisions spend part of the budget while the batch writes (the batch does not hold the
    campaign row for its whole write): its reservation fails, nothing of that attempt stays, and the
    next attempt allocates what is left: the total is never exceeded."""
    import threading

    from django.db import connection

    from ecom_ai.marketing import batch, budget
    from ecom_ai.models.marketing import Campaign

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (ECOM_AI_TEST_DB=postgres)")
    campaign.total_budget = Decimal("25.00")  # ten offers of 2.50
    campaign.save()
    real_insert, writes = batch.bulk_insert, []

    def live_spending_first(model, rows, **kwargs):
        if model is OfferDecision:
            writes.append(len(rows))
            if len(writes) == 1:
                thread = threading.Thread(
                    target=lambda: (budget.reserve(campaign.pk, Decimal("5.00")), connection.close())
                )
                thread.start()
                thread.join(30)  # not blocked: the batch has not locked the campaign row yet
        return real_insert(model, rows, **kwargs)

    monkeypatch.setattr(batch, "bulk_insert", live_spending_first)
    result = decide_batch(campaign, customers(20), rng=random.Random(0))
    assert len(writes) == 2  # the first attempt was rolled back whole
    assert result.decided == 20 and result.offers == 8 and result.spent == Decimal("20.00")
    assert OfferDecision.objects.filter(campaign=campaign).count() == 20
    assert OfferDecision.objects.filter(campaign=campaign, offer__isnull=False).count() == 8
    assert Coupon.objects.filter(campaign=campaign).count() == 8
    assert Campaign.objects.get(pk=campaign.pk).spent_total == Decimal("25.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("victim", ["live request", "batch", "live request, shop's own coupons"])
def test_a_live_decision_waiting_on_the_batch_neither_fails_nor_fails_the_batch(
    campaign, monkeypatch, victim, settings
):
    """The other order: the batch has written a customer's decision (not committed yet) when the
    shopper's live request for that customer reserves budget — holding the campaign row — and
    waits on the batch's row; the batch then waits on the campaign row for its own reservation.
    PostgreSQL breaks that deadlock by aborting the one whose wait first reaches its
    ``deadlock_timeout`` with the cycle closed (usually the live request, which waited first; the
    batch's timeout is set here to pick each). Either way the request answers with the batch's
    decision, never an error, and the batch is written whole (a batch that was aborted starts over
    and finds the customer decided: the live request stored it meanwhile)."""
    import threading
    import time

    from django.db import connection

    from ecom_ai.marketing import batch
    from ecom_ai.marketing.service import OfferService
    from ecom_ai.models.marketing import Campaign

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (ECOM_AI_TEST_DB=postgres)")
    campaign.total_budget = Decimal("100.00")
    campaign.save()
    if "own coupons" in victim:  # the live request's transactional path (BEGIN, UPDATE, INSERT, COMMIT)
        settings.ECOM_AI = {**settings.ECOM_AI, "ADAPTER": "tests.marketing.test_one_statement.HostCoupons"}
    raced = customers(1, start=3)[0][0]
    real_insert, live, errors = batch.bulk_insert, {}, []

    def blocked_backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else frozen for our transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    def live_request():
        try:
            live["result"] = OfferService(rng=random.Random(5)).decide(raced, campaign.slug)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def live_decision_while_the_batch_writes(model, rows, **kwargs):
        written = real_insert(model, rows, **kwargs)
        if model is OfferDecision and "thread" not in live:
            live["thread"] = threading.Thread(target=live_request)
            live["thread"].start()
            deadline = time.monotonic() + 10
            while not blocked_backends() and time.monotonic() < deadline:  # the request waits on our row
                time.sleep(0.02)
            assert blocked_backends()
            # who is aborted: the one whose deadlock_timeout runs out first once the cycle is closed
            # (a superuser setting: the test database's user is one)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = %s", ["100ms" if victim == "batch" else "10s"])
        return written

    monkeypatch.setattr(batch, "bulk_insert", live_decision_while_the_batch_writes)
    result = decide_batch(campaign, customers(10), rng=random.Random(0))
    live["thread"].join(30)
    assert not errors, errors
    mine = OfferDecision.objects.get(subject_key=raced.subject_key)
    assert OfferDecision.objects.filter(campaign=campaign).count() == 10
    if victim.startswith("live request"):
        assert result.decided == 10 and result.offers == 10 and mine.batch == result.batch
        assert live["result"].decision_id == mine.pk and live["result"].sticky
    else:  # the batch started over: the live request's decision stands, the batch wrote the 9 others
        assert result.decided == 9 and result.sticky == 1 and mine.batch == ""
        assert live["result"].decision_id == mine.pk and not live["result"].sticky
    spent = sum((d.cost for d in OfferDecision.objects.filter(campaign=campaign)), Decimal("0"))
    assert Campaign.objects.get(pk=campaign.pk).spent_total == spent
    coupons = OfferDecision.objects.exclude(coupon_code="").count()
    assert Coupon.objects.filter(campaign=campaign).count() == (0 if "own coupons" in victim else coupons)
