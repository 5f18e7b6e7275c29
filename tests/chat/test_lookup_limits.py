"""Failed order look-ups are limited per IP and per order number across sessions (issue 12, item 14)."""

import pytest
from django.core.cache import cache
from django.test import Client

from ecom_ai.chat import lookup_limits

URL = "/ecom-ai/api/v1/chat/messages/"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    from ecom_ai import resilient_cache

    cache.clear()
    yield
    resilient_cache.reset()  # a test that breaks the cache marks it down for CACHE_RETRY_SECONDS
    cache.clear()


def ask(order_number, email, *, ip="10.0.0.1", user=None) -> str:
    """A fresh browser (new session, new visitor) asks about an order."""
    client = Client(REMOTE_ADDR=ip)
    if user is not None:
        client.force_login(user)
    response = client.post(
        URL, {"text": f"where is order {order_number}? my e-mail is {email}"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()["messages"][-1]["text"]


def test_guessing_one_orders_email_from_many_sessions_and_ips_is_stopped(chat_pack, shop, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ORDER_LOOKUP_FAILURES_PER_ORDER": 3, "CHAT_THROTTLE_RATE": None}
    order = shop["alice_order"]
    assert "TRK-ALICE-1" in ask(order.number, "alice@example.com", ip="10.0.0.9")
    for i in range(3):
        assert "TRK-ALICE-1" not in ask(order.number, f"guess{i}@example.com", ip=f"10.0.1.{i}")
    # even the right e-mail no longer proves ownership of that order, from anywhere, for the window
    blocked = ask(order.number, "alice@example.com", ip="10.0.2.1")
    assert "TRK-ALICE-1" not in blocked and "can't look up more orders" in blocked  # hands off to staff
    # the owner, logged in, still sees it; other orders are not affected
    assert "TRK-ALICE-1" in ask(order.number, "", user=shop["alice"], ip="10.0.2.2")
    assert "TRK-BOB-9" in ask(shop["bob_order"].number, "bob@example.com", ip="10.0.2.3")
    lookup_limits.reset(str(order.number))
    assert "TRK-ALICE-1" in ask(order.number, "alice@example.com", ip="10.0.2.4")


def test_guessing_from_one_ip_with_new_sessions_is_stopped(chat_pack, shop, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ORDER_LOOKUP_FAILURES_PER_IP": 3, "CHAT_THROTTLE_RATE": None}
    for i in range(3):
        ask(f"NOPE{i}X{i}", f"x{i}@example.com", ip="192.0.2.7")  # each a new session
    assert "TRK-BOB-9" not in ask(shop["bob_order"].number, "bob@example.com", ip="192.0.2.7")
    assert "TRK-BOB-9" in ask(shop["bob_order"].number, "bob@example.com", ip="192.0.2.8")


def test_the_limits_are_skipped_when_the_cache_is_down(monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", broken)
    monkeypatch.setattr(cache, "add", broken)
    lookup_limits.record_failure("A1", ip="1.2.3.4")
    assert lookup_limits.is_blocked("A1", ip="1.2.3.4") is False


def test_counters_are_per_normalized_number():
    for _ in range(5):
        lookup_limits.record_failure("#ab12", ip="")
    assert lookup_limits.is_blocked("AB12", ip="")
    assert not lookup_limits.is_blocked("AB13", ip="")
