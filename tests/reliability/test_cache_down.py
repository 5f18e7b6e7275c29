"""Every cache use in a request path survives the cache server being down (issue 12, items 1 and 7).

The default cache is a Redis server that is not running (real refused connections, no mock).
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.test import Client

from ecom_ai.models import Event
from ecom_ai.resilient_cache import ResilientCache, is_down

pytestmark = pytest.mark.django_db

EVENTS_URL = "/ecom-ai/api/v1/events/"
CHAT_URL = "/ecom-ai/api/v1/chat/messages/"


def test_resilient_cache_answers_like_a_miss_and_logs_once(dead_cache, caplog):
    cache = ResilientCache()
    with caplog.at_level(logging.WARNING, logger="ecom_ai.cache"):
        assert cache.get("k", "dflt") == "dflt"
        assert cache.set("k", 1, 10) is False
        assert cache.add("k", 1) is False
        assert cache.incr("k") is None
        assert cache.get_many(["a", "b"]) == {}
        assert cache.delete("k") is False
        cache.delete_many(["a"])
    assert is_down()
    warnings = [r for r in caplog.records if r.name == "ecom_ai.cache"]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0].getMessage()


def test_resilient_cache_with_a_fallback_counts_in_the_process(dead_cache):
    from django.core.cache.backends.locmem import LocMemCache

    cache = ResilientCache(fallback=LocMemCache("test-fallback", {}))
    assert cache.set("k", [1, 2], 10) is True
    assert cache.get("k") == [1, 2]
    with pytest.raises(ValueError):  # not a connection error: raised as usual
        cache.incr("missing")


def test_resilient_cache_uses_the_server_when_it_is_up(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "resilient-up"}
    }
    cache = ResilientCache()
    assert cache.add("k", 1) is True and cache.add("k", 2) is False
    assert cache.incr("k") == 2 and cache.get("k") == 2
    assert not is_down()


def _events(n, prefix, **fields):
    return {
        "events": [
            {"event_type": "view", "item_key": str(i), "client_event_id": f"{prefix}-{i}", **fields} for i in range(n)
        ]
    }


def browser(visitor: str) -> Client:
    """A browser with a signed visitor cookie."""
    from django.core.signing import get_cookie_signer

    from ecom_ai.conf import settings as ecom_settings
    from ecom_ai.events.middleware import SALT

    client = Client()
    signer = get_cookie_signer(salt=ecom_settings.VISITOR_COOKIE_NAME + SALT)
    client.cookies[ecom_settings.VISITOR_COOKIE_NAME] = signer.sign(visitor)
    return client


def test_events_and_throttles_keep_working_per_process(dead_cache, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "EVENTS_THROTTLE_RATE": "3/min"}
    client = browser("v-cache-down")
    codes = [
        client.post(EVENTS_URL, _events(2, f"b{n}"), content_type="application/json").status_code for n in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]  # the limit still holds, counted in this process
    assert Event.objects.filter(visitor_key="v-cache-down").count() == 6


def test_channel_key_batches_are_accepted_with_the_cache_down(dead_cache):
    from ecom_ai.models import ChannelKey

    _key, raw = ChannelKey.create_with_key(name="pos", channel="store")
    response = Client().post(
        EVENTS_URL,
        _events(3, "key", visitor_key="v-pos"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {raw}",
    )
    assert response.status_code == 201, response.content
    assert response.json() == {"accepted": 3, "duplicates": 0}


def test_chat_answers_with_the_cache_down(dead_cache):
    client = Client()
    response = client.post(CHAT_URL, {"text": "where is my order?"}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert [m["sender"] for m in response.json()["messages"]][0] == "shopper"


def test_recommendations_answer_with_the_cache_down(dead_cache, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "RECOMMEND_THROTTLE_RATE": "100/min"}
    response = Client().get("/ecom-ai/api/v1/recommendations/", {"placement": "home"})
    assert response.status_code in (200, 404), response.content  # 404: no such placement configured
    assert response["Content-Type"].startswith("application/json")


def test_orders_are_scored_normally_with_the_cache_down(dead_cache, make_order):
    from ecom_ai.fraud.features import shop_median_amount
    from ecom_ai.fraud.scoring import assess_order_by_key
    from ecom_ai.models.fraud import FraudAssessment

    for i in range(6):
        FraudAssessment.objects.create(
            order_key=f"old-{i}",
            currency="USD",
            amount=Decimal("30.00"),
            score=5,
            level="low",
            recommended_action="accept",
            scorer="heuristic",
        )
    assert shop_median_amount("USD") == 30.0  # from the database: the cache cannot be reached
    order = make_order()
    assessment = assess_order_by_key(str(order.pk))
    assert assessment.scorer == "heuristic" and assessment.level == "low"
    assert assessment.features["amount_vs_shop_median"] == pytest.approx(40 / 30, rel=1e-3)
