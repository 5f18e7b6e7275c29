"""Hostile input on every ecom_ai API view: a clear 4xx (JSON), never a 500 (issue 12, items 4, 5, 11, 13).

The hand-made bad inputs of the issue's independent run are kept here as regression tests.
"""

import base64
import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authentication import BasicAuthentication, SessionAuthentication

from ecom_ai.api.base import ApiDefaultsMixin
from ecom_ai.api.parsers import SafeJSONParser, find_lone_surrogate

pytestmark = pytest.mark.django_db

CHAT = "/ecom-ai/api/v1/chat/messages/"
EVENTS = "/ecom-ai/api/v1/events/"
ASSESS = "/ecom-ai/api/v1/fraud/assess/"
LIST = "/ecom-ai/api/v1/fraud/assessments/"
DECISION = "/ecom-ai/api/v1/fraud/assessments/1/decision/"
RECOMMEND = "/ecom-ai/api/v1/recommendations/?placement=home"
TRAINING_RUN = "/ecom-ai/api/v1/training-runs/1/"
POSTS = [CHAT, EVENTS, ASSESS, DECISION]
GETS = [CHAT, LIST, RECOMMEND, TRAINING_RUN]


def ecom_ai_views():
    """Every DRF view class routed under ecom_ai's URLconf."""
    found = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                cls = getattr(pattern.callback, "cls", None)
                if cls is not None and cls.__module__.startswith("ecom_ai."):
                    found.append(cls)

    walk(get_resolver("ecom_ai.urls").url_patterns)
    return found


def test_every_view_uses_the_safe_parser_and_never_basic_auth():
    views = ecom_ai_views()
    assert len(views) >= 7
    for view in views:
        assert view.authentication_classes, view  # explicit: never the host's defaults
        if view.__module__ == "ecom_ai.api.docs":
            continue  # the schema and its HTML pages: GET only, no body to parse
        assert issubclass(view, ApiDefaultsMixin), view
        assert all(issubclass(p, SafeJSONParser) for p in view.parser_classes), view
        assert not any(issubclass(a, BasicAuthentication) for a in view.authentication_classes), view


def test_staff_endpoints_authenticate_with_the_session_only():
    from ecom_ai.api.fraud.views import AssessmentListView, AssessOrderView, DecisionView
    from ecom_ai.api.ml.views import TrainingRunView

    for view in (AssessOrderView, AssessmentListView, DecisionView, TrainingRunView):
        assert view.authentication_classes == [SessionAuthentication]


# --- item 4: tiny bodies that crashed ---------------------------------------------------------


@pytest.mark.parametrize("url", POSTS)
@pytest.mark.parametrize("depth", [1000, 5000, 100_000])
def test_deeply_nested_json_is_a_400(staff, url, depth):
    response = staff.post(url, "[" * depth + "]" * depth, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("url", [CHAT, EVENTS])
def test_deeply_nested_json_is_a_400_anonymously(anon, url):
    response = anon.post(url, '{"text": ' + "[" * 5000 + "]" * 5000 + "}", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("url", [ASSESS, DECISION])
def test_anonymous_staff_posts_are_refused_before_parsing(anon, url):
    response = anon.post(url, "[" * 5000 + "]" * 5000, content_type="application/json")
    assert response.status_code == 403


@pytest.mark.parametrize("text", ["hi \\ud800", "\\udfff", "a\\ud800\\u0041"])
def test_a_lone_surrogate_in_chat_is_a_400(anon, text):
    response = anon.post(CHAT, '{"text": "' + text + '"}', content_type="application/json")
    assert response.status_code == 400, response.content
    assert "surrogate" in response.json()["detail"]
    from ecom_ai.models import Message

    assert not Message.objects.exists()


def test_a_lone_surrogate_anywhere_is_a_400(staff):
    body = '{"order_key": "x", "email": "a\\ud800@example.com"}'
    assert staff.post(ASSESS, body, content_type="application/json").status_code == 400
    body = '{"events": [{"event_type": "view", "item_key": "1", "context": {"\\udc00": 1}}]}'
    response = staff.post(EVENTS, body, content_type="application/json")  # events name the event and field
    assert response.status_code == 400 and "context" in response.json()["errors"]["0"]


def test_surrogate_pairs_are_valid_text(anon):
    body = '{"text": "hello \\ud83d\\ude00 what is your return policy"}'  # an emoji, escaped as a pair
    response = anon.post(CHAT, body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_find_lone_surrogate():
    assert find_lone_surrogate({"a": ["ok", {"k\ud800": 1}]}) == "k\ud800"
    assert find_lone_surrogate({"a": ["ok", "\U0001f600"]}) is None


def test_the_chat_service_cleans_lone_surrogates():
    from ecom_ai.chat.service import clean_text

    assert clean_text("hi \ud800") == "hi \ufffd"


@pytest.mark.parametrize("after", ["²", "٣x", "-1", "1.5", "abc", "9" * 30, ""])
def test_bad_after_on_chat_history_is_a_400(anon, after):
    response = anon.get(CHAT, {"after": after})
    assert response.status_code == 400, response.content
    assert "after" in response.json()["detail"]


@pytest.mark.parametrize("after", ["0", "12", str(2**63 - 1)])
def test_good_after_on_chat_history(anon, after):
    assert anon.get(CHAT, {"after": after}).status_code == 200


# --- item 5: Basic auth header with NUL -------------------------------------------------------


def basic(user: bytes, password: bytes = b"pw") -> str:
    return "Basic " + base64.b64encode(user + b":" + password).decode()


@pytest.mark.parametrize(
    "header",
    [
        basic(b"a\x00b"),
        basic(b"staff"),
        basic(b"\x00"),
        "Basic !!!",
        "Api-Key eai_\x00abc",
        "Api-Key \x00",
        "Bearer x\x00y",
    ],
)
def test_odd_authorization_headers_never_500(anon, header):
    for url in GETS:
        assert anon.get(url, HTTP_AUTHORIZATION=header).status_code in (200, 400, 401, 403, 404), (url, header)
    for url in POSTS:
        response = anon.post(url, "{}", content_type="application/json", HTTP_AUTHORIZATION=header)
        assert response.status_code in (400, 401, 403), (url, header, response.content)


def test_basic_auth_with_the_right_password_does_not_authenticate_staff(anon):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    assert anon.get(LIST, HTTP_AUTHORIZATION=basic(b"boss")).status_code == 403


# --- item 11: bodies between DATA_UPLOAD_MAX_MEMORY_SIZE and the view's limit -----------------


def test_a_body_over_the_limit_is_a_json_413_with_the_limit(anon, staff, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = anon.post(CHAT, json.dumps({"text": "x" * 3000}), content_type="application/json")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert "1000 bytes" in response.json()["detail"]
    response = staff.post(ASSESS, json.dumps({"order_key": "x" * 3000}), content_type="application/json")
    assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]


def test_events_accept_bodies_above_data_upload_max_memory_size(anon, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    events = [{"event_type": "view", "item_key": str(i), "context": {"q": "é" * 300}} for i in range(5)]
    body = json.dumps({"events": events})  # ASCII-escaped: 6 bytes for each é
    assert len(body) > 5 * 1000
    response = anon.post(EVENTS, body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_a_valid_batch_fits_however_escaped(anon, settings):
    from ecom_ai.api.events.views import max_body_bytes

    settings.ECOM_AI = {**settings.ECOM_AI, "MAX_BATCH_SIZE": 20, "MAX_CONTEXT_BYTES": 600}
    # a context right at the decoded limit, every character escaped (\u00e9: 6 bytes for 2 of UTF-8)
    context = {"q": "é" * 290}
    assert len(json.dumps(context, ensure_ascii=False, separators=(",", ":")).encode()) <= 600
    body = json.dumps(
        {
            "events": [
                {"event_type": "view", "item_key": f"item-{i}", "context": context, "client_event_id": f"id-{i}"}
                for i in range(20)
            ]
        }
    )
    assert len(body) <= max_body_bytes()
    response = anon.post(EVENTS, body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_events_body_over_their_own_limit_is_a_413_with_the_limit(anon, settings):
    from ecom_ai.api.events.views import max_body_bytes

    settings.ECOM_AI = {**settings.ECOM_AI, "MAX_BATCH_SIZE": 1, "MAX_CONTEXT_BYTES": 10}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    limit = max_body_bytes()
    response = anon.post(
        EVENTS,
        json.dumps({"events": [{"event_type": "view", "context": {"x": "y" * limit}}]}),
        content_type="application/json",
    )
    assert response.status_code == 413 and f"{limit} bytes" in response.json()["detail"]


# --- item 13: order times outside a sane window -----------------------------------------------


@pytest.mark.parametrize("field", ["created_at", "signed_up_at"])
@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "1999-12-31T23:59:59Z",
        "2999-01-01T00:00:00Z",
    ],
)
def test_fraud_rejects_order_times_outside_a_sane_window(staff, field, when):
    response = staff.post(ASSESS, {"order_key": "o-1", field: when}, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    from ecom_ai.models.fraud import FraudAssessment

    assert not FraudAssessment.objects.exists()


def test_fraud_accepts_a_normal_order_time(staff):
    from django.utils import timezone

    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    response = staff.post(
        ASSESS,
        {"order_key": "o-1", "created_at": now, "signed_up_at": "2024-05-01T10:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content


# --- item 12 (part): empty filters ------------------------------------------------------------


@pytest.mark.parametrize("query", ["until=", "since=", "level=", "status=", "min_score=", "order="])
def test_empty_filters_are_a_400(staff, query):
    response = staff.get(f"{LIST}?{query}")
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("query", ["until=0001-01-01T00:00:00Z", "since=9999-12-31T23:59:59-10:00", "min_score=101"])
def test_odd_filters_never_500(staff, query):
    assert staff.get(f"{LIST}?{query}").status_code in (200, 400)


# --- found by schemathesis --------------------------------------------------------------------


def test_a_number_where_the_schema_says_string_is_a_400(staff):
    response = staff.post(ASSESS, {"number": "N-1", "billing_country": 6571}, content_type="application/json")
    assert response.status_code == 400 and "billing_country" in response.json()


def test_an_empty_limit_on_recommendations_is_a_400(anon):
    assert anon.get("/ecom-ai/api/v1/recommendations/", {"placement": "product", "limit": ""}).status_code == 400
    assert anon.get("/ecom-ai/api/v1/recommendations/", {"placement": "product", "item": ""}).status_code == 200


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "offset=-1", "limit=%1F"])
def test_bad_pagination_is_a_400(staff, query):
    assert staff.get(f"{LIST}?{query}").status_code == 400


@pytest.mark.parametrize("url", ["/ecom-ai/api/v1/fraud/assessments/1e100/decision/", "/ecom-ai/api/v1/nope/"])
def test_unknown_api_paths_are_a_json_404(anon, url):
    response = anon.post(url, "{}", content_type="application/json")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
