"""The sandbox's real checkout view: orders are assessed, and a failing scorer never breaks it."""

import time

import pytest

from ecom_ai.models.fraud import FraudAssessment


def checkout(client, product, **form):
    client.post(f"/cart/add/{product.pk}/", {"quantity": 2})
    data = {
        "name": "Ann Buyer",
        "email": "ann@example.com",
        "address": "1 Main St",
        "country": "US",
        "billing_country": "DE",
        "card_number": "4242 4242 4242 4242",
        "token": "a" * 32,
    }
    data.update(form)
    return client.post("/checkout/", data, REMOTE_ADDR="198.51.100.77")


@pytest.mark.django_db
def test_checkout_assesses_the_order_after_commit(client, product, django_capture_on_commit_callbacks):
    from shop.models import Order

    with django_capture_on_commit_callbacks(execute=True):
        response = checkout(client, product)
    assert response.status_code == 302, response.content[:500]
    order = Order.objects.get()
    a = FraudAssessment.objects.get(order_key=str(order.pk))
    assert a.order_number == order.number and a.ip == "198.51.100.77" and a.payment_fingerprint
    assert a.features["shipping_billing_mismatch"] == 1 and a.features["total_quantity"] == 2
    assert a.features["cart_adds"] >= 1  # behaviour from the event log before the purchase


@pytest.mark.django_db
def test_checkout_survives_a_broken_scorer_and_a_broken_database_write(
    client, product, monkeypatch, django_capture_on_commit_callbacks
):
    from shop.models import Order

    import ecom_ai.fraud.scoring as scoring

    def boom(*args, **kwargs):
        raise RuntimeError("scorer down")

    monkeypatch.setattr(scoring, "compute_features", boom)
    monkeypatch.setattr(scoring, "_error_assessment", boom)  # even the fallback fails
    with django_capture_on_commit_callbacks(execute=True):
        response = checkout(client, product)
    assert response.status_code == 302
    assert Order.objects.count() == 1  # the order is never lost
    assert not FraudAssessment.objects.exists()


@pytest.mark.celery
def test_order_placed_is_assessed_on_a_real_worker(celery_worker, make_order):
    from shop.models import Order

    from ecom_ai.signals import order_placed

    order = make_order(ip_address="203.0.113.66")  # transactional db: committed, the worker sees it
    order_placed.send(sender=Order, order=order, request=None)  # autocommit: sent at once
    deadline = time.monotonic() + 60
    while not FraudAssessment.objects.filter(order_key=str(order.pk)).exists():
        assert time.monotonic() < deadline, "the worker did not assess the order"
        time.sleep(0.2)
    assert FraudAssessment.objects.get(order_key=str(order.pk)).ip == "203.0.113.66"
