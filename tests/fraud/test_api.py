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
    response = staff_client.post(
        ASSESS,
        {
            "order_key": "api-1",
            "email": "a@example.com",
            "total": "12.50",
            "currency": "ZZZ",
            "ip": "300.1.1.1",
            "lines": [{"item_key": "sku1", "quantity": 2}],
            "shipping_country": "US",
            "billing_country": "DE",
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["order_key"] == "api-1" and 0 <= body["score"] <= 100
    codes = {r["code"] for r in body["reasons"]}
    assert {"currency_unknown", "ip_malformed"} <= codes
    assert body["features"]["shipping_billing_mismatch"] == 1


@pytest.mark.parametrize(
    "payload",
    [
        {},  # no order key / number
        {"order_key": "x", "total": "lots"},  # not a number
        {"order_key": "x", "total": "1" * 30},  # too many digits
        {"order_key": "x", "lines": "nope"},
        {"order_key": "x", "lines": [{"quantity": -1}]},
        {"order_key": "x", "created_at": "yesterday"},
        {"order_key": "x" * 500},
        {"order_key": "x", "surprise": 1},
        ["not", "an", "object"],
    ],
)
def test_assess_bad_input_is_400(staff_client, payload):
    response = staff_client.post(ASSESS, payload, content_type="application/json")
    assert response.status_code == 400, response.content
    from ecom_ai.models.fraud import FraudAssessment

    assert not FraudAssessment.objects.exists()


def test_malformed_json_is_400(staff_client):
    assert staff_client.post(ASSESS, "{not json", content_type="application/json").status_code == 400


def test_list_filters_and_decision(staff_client):
    for key, ip in (("a", "bogus"), ("b", "192.0.2.1")):
        staff_client.post(
            ASSESS,
            {
                "order_key": key,
                "ip": ip,
                "email": f"{key}@example.com",
                "total": "10",
                "currency": "USD",
                "device_id": key,
                "payment_fingerprint": key,
                "shipping_country": "US",
                "billing_country": "US",
            },
            content_type="application/json",
        )
    everything = staff_client.get(LIST).json()
    assert everything["count"] == 2
    assert staff_client.get(LIST, {"order": "a"}).json()["results"][0]["order_key"] == "a"
    assert staff_client.get(LIST, {"level": "nope"}).status_code == 400
    assert staff_client.get(LIST, {"since": "garbage"}).status_code == 400
    assert staff_client.get(LIST, {"min_score": "200"}).status_code == 400
    pk = everything["results"][0]["id"]
    assert (
        staff_client.post(decision_url(pk), {"decision": "maybe"}, content_type="application/json").status_code == 400
    )
    assert (
        staff_client.post(decision_url(999999), {"decision": "fraud"}, content_type="application/json").status_code
        == 404
    )
    response = staff_client.post(
        decision_url(pk), {"decision": "fraud", "note": "stolen card"}, content_type="application/json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "fraud" and body["label"] is True and body["decided_by"] == "staff"
    assert "stolen card" in body["note"]
    assert staff_client.get(LIST, {"status": "fraud"}).json()["count"] == 1


def test_the_order_payload_serializer_gives_the_facts_scoring_reads():
    from datetime import datetime, timezone
    from decimal import Decimal

    from ecom_ai.api.fraud.serializers import OrderPayloadSerializer

    payload = OrderPayloadSerializer(
        data={
            "number": " N-7 ",
            "user_key": "u1",
            "email": "a@example.com",
            "total": "12.50",
            "currency": "EUR",
            "created_at": "2026-01-02T03:04:05Z",
            "signed_up_at": "2025-12-01T00:00:00Z",
            "ip": "10.0.0.1",
            "device_id": "dev",
            "payment_fingerprint": "card",
            "shipping_country": "FR",
            "billing_country": "DE",
            "ip_country": "US",
            "channel": "app",
            "visitor_key": "v1",
            "lines": [{"item_key": "sku1", "quantity": 2, "price": "5.25"}, {"item_key": "sku2"}],
        }
    )
    assert payload.is_valid(), payload.errors
    facts = payload.to_facts()
    assert (facts.order_key, facts.number) == ("N-7", "N-7")  # the number stands for the missing key
    assert (facts.user_key, facts.email, facts.amount, facts.currency) == (
        "u1",
        "a@example.com",
        Decimal("12.50"),
        "EUR",
    )
    assert facts.placed_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert facts.signed_up_at == datetime(2025, 12, 1, tzinfo=timezone.utc)
    assert (facts.ip, facts.device, facts.payment_fingerprint) == ("10.0.0.1", "dev", "card")
    assert (facts.shipping_country, facts.billing_country, facts.ip_country) == ("FR", "DE", "US")
    assert (facts.channel, facts.visitor_key) == ("app", "v1")
    assert facts.lines == [("sku1", 2, Decimal("5.25")), ("sku2", 1, None)]


def test_decide_locks_and_saves_in_its_own_transaction(django_user_model):
    from ecom_ai.fraud.scoring import decide
    from ecom_ai.models.fraud import FraudAssessment

    staff_user = django_user_model.objects.create_user("reviewer", is_staff=True)
    assessment = FraudAssessment.objects.create(order_key="o-1", score=80, level="high")
    decided = decide(assessment.pk, "fraud", user=staff_user, note="chargeback expected")
    stored = FraudAssessment.objects.get(pk=assessment.pk)
    assert decided.label is True and stored.label is True and stored.status == FraudAssessment.STATUS_FRAUD
    assert stored.decided_by == staff_user.get_username() and stored.note == "chargeback expected"
    assert decide(stored, "approve").status == FraudAssessment.STATUS_APPROVED  # an instance works too
    with pytest.raises(FraudAssessment.DoesNotExist):
        decide(999999, "fraud")
