"""Shop-specific fraud attributes (FRAUD_EXTRA_FEATURES): features, model, rules, reasons, API, checks."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ecom_ai.fraud.features import OrderFacts, compute_features
from ecom_ai.fraud.rules import ConditionError, parse_condition
from ecom_ai.fraud.scoring import assess_facts
from ecom_ai.ml.registry import load_active, train_model
from tests.fraud.conftest import heuristic_blind, synthetic_assessments

pytestmark = pytest.mark.django_db
ASSESS = "/ecom-ai/api/v1/fraud/assess/"
EXTRAS = {
    "avs_result": {
        "type": "categorical",
        "source": "order_extra",
        "key": "avs",
        "description": "address check of the payment gateway",
    },
    "gateway_risk": "numeric",
    "three_ds": {"type": "categorical", "source": "api"},
    "age_band": {"type": "categorical", "report_only": True},
}


@pytest.fixture
def extras(ecom_ai_settings):
    ecom_ai_settings(FRAUD_EXTRA_FEATURES=EXTRAS)


def test_declared_attributes_become_features_and_report_only_ones_do_not(extras):
    facts = OrderFacts(
        order_key="x1",
        extra={"avs": "N", "gateway_risk": "87.5", "three_ds": "passed", "age_band": "18-24"},
        extra_source="order_extra",
    )
    result = compute_features(facts)
    assert result.features["avs_result"] == "N" and result.features["gateway_risk"] == 87.5
    assert result.features["three_ds"] == ""  # declared for the API only
    assert "age_band" not in result.features and result.report == {"age_band": "18-24"}
    api = compute_features(OrderFacts(order_key="x2", extra={"avs": "N", "three_ds": "failed"}, extra_source="api"))
    assert api.features["avs_result"] == "" and api.features["three_ds"] == "failed"
    assert api.features["gateway_risk"] is None


def test_an_unreadable_value_is_a_gap_and_an_unknown_value(extras):
    assessment = assess_facts(OrderFacts(order_key="bad", extra={"gateway_risk": "very high"}))
    assert assessment.features["gateway_risk"] is None
    assert any(r["code"] == "gateway_risk_malformed" and "not a number" in r["message"] for r in assessment.reasons)


def test_assessments_store_features_and_report_attributes_apart(extras):
    assessment = assess_facts(OrderFacts(order_key="s1", extra={"avs": "Y", "gateway_risk": 3, "age_band": "65+"}))
    assessment.refresh_from_db()
    assert assessment.features["avs_result"] == "Y" and assessment.features["gateway_risk"] == 3
    assert assessment.report_attributes == {"age_band": "65+"} and "age_band" not in assessment.features


def test_rules_use_declared_features_and_refuse_report_only_ones(extras, staff_client):
    condition = parse_condition("gateway_risk > 80 and avs_result in ('N', 'U')")
    assert condition.evaluate({"gateway_risk": 90, "avs_result": "N"})
    with pytest.raises(ConditionError, match="report only"):
        parse_condition("age_band == '18-24'")
    with pytest.raises(ConditionError, match="Unknown feature 'gateway_riks' at column 1. Did you mean gateway_risk"):
        parse_condition("gateway_riks > 1")
    from ecom_ai.models.fraud import FraudRule

    with pytest.raises(ValidationError):
        FraudRule.objects.create(name="sensitive", condition="age_band == '65+'", action="review")
    form = staff_client.get("/admin/ecom_ai/fraudrule/add/").content.decode()
    assert "avs_result (categorical)" in form and "gateway_risk (numeric)" in form and "age_band" in form
    response = staff_client.post(
        "/admin/ecom_ai/fraudrule/add/",
        {"name": "age", "condition": "age_band == '65+'", "action": "review", "priority": 1, "enabled": "on"},
    )
    assert response.status_code == 200 and "is declared report only" in response.content.decode()
    FraudRule.objects.create(name="gateway", condition="gateway_risk > 80", action="review")
    flagged = assess_facts(
        OrderFacts(order_key="r1", email="r@example.com", amount="20", currency="USD", extra={"gateway_risk": 95})
    )
    assert flagged.level == "medium" and flagged.rules_fired[0]["name"] == "gateway"


def test_the_model_learns_an_extra_feature_and_names_it_in_reasons(extras, low_floor):
    def risky_gateway(fraud, rng):
        return {
            **heuristic_blind(fraud, rng),
            "amount": rng.uniform(10, 120),
            "orders_ip_24h": 0,
            "gateway_risk": rng.uniform(70, 100) if fraud else rng.uniform(0, 40),
            "avs_result": "N" if fraud else "Y",
        }

    synthetic_assessments(n=300, fraud_rate=0.3, extra=risky_gateway)
    version = train_model("fraud", {"epochs": 15, "patience": 4, "min_count": 1, "bootstrap": 30})
    assert version.status == "active", version.notes
    assert version.params["extra_features"] == ["gateway_risk", "avs_result", "three_ds"]
    model = load_active("fraud")
    assert (
        "gateway_risk" in model.numeric
        and "avs_result" in model.categorical
        and "age_band" not in (model.numeric + model.categorical)
    )
    now = timezone.now()
    risky = assess_facts(
        OrderFacts(
            order_key="m1",
            email="m@example.com",
            amount="40",
            currency="USD",
            placed_at=now,
            signed_up_at=now - timedelta(days=300),
            extra={"gateway_risk": 96, "avs": "N"},
        )
    )
    calm = assess_facts(
        OrderFacts(
            order_key="m2",
            email="n@example.com",
            amount="40",
            currency="USD",
            placed_at=now,
            signed_up_at=now - timedelta(days=300),
            extra={"gateway_risk": 5, "avs": "Y"},
        )
    )
    assert risky.scorer == "model" and risky.score > calm.score + 30
    codes = [r["code"] for r in risky.reasons if r["kind"] == "feature"]
    assert "gateway_risk" in codes
    assert any(r["message"] == "shop attribute gateway_risk" for r in risky.reasons)


def test_the_assess_api_accepts_declared_extra_fields_only(extras, staff_client):
    ok = staff_client.post(
        ASSESS,
        {"order_key": "a1", "extra": {"three_ds": "failed", "gateway_risk": 12}},
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["features"]["three_ds"] == "failed" and ok.json()["features"]["gateway_risk"] == 12
    for extra, field in (
        ({"surprise": 1}, "surprise"),
        ({"avs": "N"}, "avs"),
        ({"gateway_risk": "lots"}, "gateway_risk"),
        ({"three_ds": {"nested": 1}}, "three_ds"),
    ):
        bad = staff_client.post(ASSESS, {"order_key": "a2", "extra": extra}, content_type="application/json")
        assert bad.status_code == 400, (extra, bad.content)
        assert field in bad.json()["extra"]


def test_without_declarations_the_api_refuses_extra_fields(staff_client):
    bad = staff_client.post(ASSESS, {"order_key": "a3", "extra": {"x": 1}}, content_type="application/json")
    assert bad.status_code == 400 and "FRAUD_EXTRA_FEATURES" in bad.json()["extra"]["x"]


@pytest.mark.parametrize(
    "declared, message",
    [
        ({"amount": "numeric"}, "built-in fraud feature"),
        ({"2fast": "numeric"}, "identifiers"),
        ({"ok": "boolean"}, "'numeric' or 'categorical'"),
        ({"ok": {"type": "numeric", "source": "pos"}}, "source"),
        ({"ok": {"type": "categorical", "bins": [1, 2]}}, "numeric attributes"),
        ({"ok": {"type": "numeric", "colour": "red"}}, "unknown key"),
    ],
)
def test_system_check_reports_bad_declarations(ecom_ai_settings, declared, message):
    from ecom_ai.fraud.checks import check_fraud_settings

    ecom_ai_settings(FRAUD_EXTRA_FEATURES=declared)
    errors = check_fraud_settings()
    assert len(errors) == 1 and errors[0].id == "ecom_ai.E030" and message in errors[0].msg


def test_system_check_reports_unknown_fairness_segments(ecom_ai_settings):
    from ecom_ai.fraud.checks import check_fraud_settings

    ecom_ai_settings(FRAUD_EXTRA_FEATURES=EXTRAS, FAIRNESS_SEGMENTS=["country", "age_band", "shoe_size"])
    errors = check_fraud_settings()
    assert [e.id for e in errors] == ["ecom_ai.E030"] and "'shoe_size'" in errors[0].msg
