"""Staff-only fraud API: auth, bad input (4xx, never 500), assess, list, decide."""
import pytest

pytestmark = pytest.mark.django_db

ASSESS = "/ecom-ai/api/v1/fraud/assess/"
LIST = "/ecom-ai/api/v1/fraud/assessments/"


def decision_url(pk):
    return f"/ecom-ai/api/v1/fraud/assessments/{pk}/decision/"


def test_non_staff_and_anonymous_get_403(client, shopper_client):
    for c in (client, shopper_client):
        assert c.post(ASSESS, {"order_key": "x"}, content_type="application/json").status_code == 403
        assert c.get(LIST).status_code == 403
        assert c.post(decision_url(1), {"decision": "fraud"}, content_type="application/json").status_code == 403
    from ecom_ai.models.fraud import FraudAssessment

    assert not FraudAssessment.objects.exists()


def test_assess_payload_and_gaps(staff_client):
    response = staff_client.post(ASSESS, {
        "order_key": "api-1", "email": "a@example.com", "total": "12.50", "currency": "ZZZ", "ip": "300.1.1.1",
        "lines": [{"item_key": "sku1", "quantity": 2}], "shipping_country": "US", "billing_country": "DE",
    }, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["order_key"] == "api-1" and 0 <= body["score"] <= 100
    codes = {r["code"] for r in body["reasons"]}
    assert {"currency_unknown", "ip_malformed"} <= codes
    assert body["features"]["shipping_billing_mismatch"] == 1


@pytest.mark.parametrize("payload", [
    {},                                              # no order key / number
    {"order_key": "x", "total": "lots"},              # not a number
    {"order_key": "x", "total": "1" * 30},            # too many digits
    {"order_key": "x", "lines": "nope"},
    {"order_key": "x", "lines": [{"quantity": -1}]},
    {"order_key": "x", "created_at": "yesterday"},
    {"order_key": "x" * 500},
    {"order_key": "x", "surprise": 1},
    ["not", "an", "object"],
])
def test_assess_bad_input_is_400(staff_client, payload):
    response = staff_client.post(ASSESS, payload, content_type="application/json")
    assert response.status_code == 400, response.content
    from ecom_ai.models.fraud import FraudAssessment

    assert not FraudAssessment.objects.exists()


def test_malformed_json_is_400(staff_client):
    assert staff_client.post(ASSESS, "{not json", content_type="application/json").status_code == 400


def test_list_filters_and_decision(staff_client):
    for key, ip in (("a", "bogus"), ("b", "192.0.2.1")):
        staff_client.post(ASSESS, {"order_key": key, "ip": ip, "email": f"{key}@example.com", "total": "10",
                                   "currency": "USD", "device_id": key, "payment_fingerprint": key,
                                   "shipping_country": "US", "billing_country": "US"},
                          content_type="application/json")
    everything = staff_client.get(LIST).json()
    assert everything["count"] == 2
    assert staff_client.get(LIST, {"order": "a"}).json()["results"][0]["order_key"] == "a"
    assert staff_client.get(LIST, {"level": "nope"}).status_code == 400
    assert staff_client.get(LIST, {"since": "garbage"}).status_code == 400
    assert staff_client.get(LIST, {"min_score": "200"}).status_code == 400
    pk = everything["results"][0]["id"]
    assert staff_client.post(decision_url(pk), {"decision": "maybe"}, content_type="application/json").status_code == 400
    assert staff_client.post(decision_url(999999), {"decision": "fraud"}, content_type="application/json").status_code == 404
    response = staff_client.post(decision_url(pk), {"decision": "fraud", "note": "stolen card"},
                                 content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "fraud" and body["label"] is True and body["decided_by"] == "staff"
    assert "stolen card" in body["note"]
    assert staff_client.get(LIST, {"status": "fraud"}).json()["count"] == 1
