"""A database connection that dies inside a request gives a JSON 503, never an HTML 500
(issue 12, item 6): real PostgreSQL backends terminated with ``pg_terminate_backend``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from ecom_ai.models import ChannelKey, Event
from tests.reliability.conftest import backend_pid, postgres_only, terminate_backends

pytestmark = [pytest.mark.postgres, postgres_only]

EVENTS_URL = "/ecom-ai/api/v1/events/"


@pytest.fixture
def reconnect():
    yield
    connection.close()  # the killed connection: the next query opens a new one


def _batch(n, prefix):
    return {
        "events": [
            {"event_type": "view", "item_key": str(i), "visitor_key": "v-db", "client_event_id": f"{prefix}-{i}"}
            for i in range(n)
        ]
    }


def test_api_key_authentication_on_a_dead_connection_is_a_json_503(transactional_db, reconnect):
    _key, raw = ChannelKey.create_with_key(name="pos", channel="store")
    assert terminate_backends([backend_pid()]) == 1
    response = Client().post(
        EVENTS_URL, _batch(3, "dead"), content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {raw}"
    )
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"] == "application/json" and response["Retry-After"]
    assert response.json()["code"] == "database_unavailable"
    connection.close()
    # the client retries: the batch is stored once
    response = Client().post(
        EVENTS_URL, _batch(3, "dead"), content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {raw}"
    )
    assert response.status_code == 201 and Event.objects.filter(visitor_key="v-db").count() == 3


def test_chat_on_a_dead_connection_is_a_json_503(transactional_db, reconnect):
    assert terminate_backends([backend_pid()]) == 1
    response = Client().get("/ecom-ai/api/v1/chat/messages/")
    assert response.status_code == 503 and response.json()["code"] == "database_unavailable"
