"""Features, scoring with/without a model, lists, rules, bad input, checkout safety."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from ecom_ai.fraud.features import FEATURE_NAMES, OrderFacts, compute_features
from ecom_ai.fraud.scoring import assess_facts, assess_order, score_order

pytestmark = pytest.mark.django_db


def facts(**kw):
    values = dict(
        order_key=kw.pop("order_key", "o1"),
        number="N1",
        user_key="",
        email="a@example.com",
        amount=Decimal("50"),
        currency="USD",
        ip="198.51.100.7",
        device="d1",
        payment_fingerprint="p1",
        shipping_country="US",
        billing_country="US",
        channel="web",
    )
    values.update(kw)
    return OrderFacts(**values)


def test_velocity_sharing_and_history_features():
    now = timezone.now()
    for i in range(3):
        assess_facts(
            facts(
                order_key=f"prev{i}",
                email=f"u{i}@example.com",
                placed_at=now - timedelta(minutes=10 + i),
                amount=Decimal("20"),
            )
        )
    assess_facts(facts(order_key="old", email="u0@example.com", placed_at=now - timedelta(days=3), amount="20"))
    result = compute_features(facts(order_key="new", email="u0@example.com", placed_at=now, amount="200"))
    f = result.features
    assert set(FEATURE_NAMES) <= set(f)
    assert f["orders_ip_1h"] == 3 and f["orders_ip_24h"] == 3 and f["orders_ip_7d"] == 4
    assert f["orders_device_1h"] == 3
    assert f["orders_email_7d"] == 2  # prev0 and old share the email
    assert f["accounts_on_device"] == 2  # u1, u2 besides u0 itself
    assert f["previous_orders"] == 2 and f["first_order"] == 0
    assert f["amount_vs_user_mean"] == pytest.approx(10.0)
    assert f["ip_country_mismatch_shipping"] is None  # no IP country known
    assert result.gaps == []


def test_later_orders_never_leak_into_earlier_features():
    now = timezone.now()
    assess_facts(facts(order_key="later", placed_at=now))
    f = compute_features(facts(order_key="earlier", placed_at=now - timedelta(hours=2))).features
    assert f["orders_ip_7d"] == 0 and f["first_order"] == 1


def test_signup_and_behaviour_from_users_and_event_log(django_user_model):
    from ecom_ai.models.events import Event

    user = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
    now = timezone.now()
    django_user_model.objects.filter(pk=user.pk).update(date_joined=now - timedelta(minutes=30))
    Event.objects.bulk_create(
        [
            Event(
                event_type="view",
                channel="web",
                user_key=str(user.pk),
                item_key="a",
                occurred_at=now - timedelta(minutes=20),
            ),
            Event(
                event_type="view",
                channel="web",
                user_key=str(user.pk),
                item_key="b",
                occurred_at=now - timedelta(minutes=10),
            ),
            Event(
                event_type="add_to_cart",
                channel="web",
                user_key=str(user.pk),
                item_key="b",
                occurred_at=now - timedelta(minutes=5),
            ),
            Event(event_type="view", channel="web", user_key="someone-else", item_key="c", occurred_at=now),
        ]
    )
    f = compute_features(facts(user_key=str(user.pk), placed_at=now, ip_country="FR")).features
    assert f["minutes_since_signup"] == pytest.approx(30, abs=0.1)
    assert f["is_guest"] == 0
    assert (f["events_24h"], f["pages_viewed"], f["items_viewed"], f["cart_adds"]) == (3, 2, 2, 1)
    assert f["seconds_on_site"] == pytest.approx(1200, abs=1)
    assert f["ip_country_mismatch_shipping"] == 1 and f["ip_country_mismatch_billing"] == 1


@pytest.mark.parametrize(
    "bad, code",
    [
        ({"ip": "999.1.2.3"}, "ip_malformed"),
        ({"ip": "not an ip; DROP TABLE"}, "ip_malformed"),
        ({"amount": "abc"}, "amount_missing"),
        ({"amount": None}, "amount_missing"),
        ({"amount": Decimal("1e12")}, "amount_absurd"),
        ({"amount": "-5"}, "amount_absurd"),
        ({"amount": "NaN"}, "amount_missing"),
        ({"currency": "XYZ"}, "currency_unknown"),
        ({"currency": ""}, "currency_unknown"),
        ({"email": ""}, "email_missing"),
        ({"email": "nope"}, "email_malformed"),
        ({"shipping_country": "", "device": "", "payment_fingerprint": ""}, "device_missing"),
        ({"lines": [("x", "many", None)]}, "quantity_malformed"),
    ],
)
def test_bad_input_is_assessed_with_the_gaps_as_reasons(bad, code):
    assessment = assess_facts(facts(order_key=f"bad-{code}-{len(str(bad))}", **bad))
    assert assessment is not None and assessment.pk
    assert assessment.scorer == "heuristic"
    assert code in {r["code"] for r in assessment.reasons if r["kind"] == "data"}


def test_heuristic_score_without_model_flags_risky_orders():
    now = timezone.now()
    for i in range(3):
        assess_facts(facts(order_key=f"r{i}", email=f"x{i}@example.com", placed_at=now - timedelta(minutes=5)))
    risky = assess_facts(
        facts(order_key="risky", email="y@example.com", placed_at=now, signed_up_at=now, ip_country="NG", amount="900")
    )
    assert risky.scorer == "heuristic" and risky.model_version_id is None
    assert risky.level == "high" and risky.recommended_action == "cancel" and risky.status == "pending_review"
    codes = {r["code"] for r in risky.reasons}
    assert {"minutes_since_signup", "accounts_on_device", "ip_country_mismatch_shipping"} <= codes
    calm = assess_facts(
        facts(order_key="calm", ip="192.0.2.50", device="d9", payment_fingerprint="p9", email="calm@example.com")
    )
    assert calm.level == "low" and calm.recommended_action == "accept" and calm.status == "auto_accepted"


def test_thresholds_from_admin_settings():
    from ecom_ai.models.fraud import FraudSettings

    FraudSettings.objects.create(medium_threshold=5, high_threshold=8)
    a = assess_facts(facts(order_key="t", ip="bogus"))  # 10 points for the malformed IP
    assert a.level == "high"


def test_lists_and_rules_override_the_score():
    from ecom_ai.models.fraud import FraudListEntry, FraudRule

    FraudListEntry.objects.create(kind="email", value="Bad@Example.com", list="block")
    assert assess_facts(facts(order_key="l1", email="bad@example.com")).level == "high"
    FraudListEntry.objects.create(kind="device", value="vip-device", list="allow")
    FraudRule.objects.create(name="all big", condition="amount > 10", action="review", priority=5)
    a = assess_facts(facts(order_key="l2", device="vip-device"))
    assert a.level == "low" and a.rules_fired[0]["name"] == "all big"
    b = assess_facts(facts(order_key="l3"))
    assert b.level == "medium" and any(r["kind"] == "rule" for r in b.reasons)
    FraudRule.objects.create(name="block huge", condition="amount >= 5000", action="block", priority=1)
    c = assess_facts(facts(order_key="l4", amount="6000"))
    assert c.level == "high" and [r["name"] for r in c.rules_fired] == ["block huge", "all big"]


def test_fraud_flagged_signal_and_rescoring_keeps_decisions():
    from ecom_ai.signals import fraud_flagged

    seen = []

    def listener(sender, assessment, **kw):
        seen.append(assessment.order_key)

    fraud_flagged.connect(listener)
    try:
        a = assess_facts(facts(order_key="f1", ip="bogus", amount="abc", currency="ZZZ"))
        assert a.level != "low" and seen == ["f1"]
        a.decide("approve", by="alice")
        again = assess_facts(facts(order_key="f1", ip="bogus", amount="abc", currency="ZZZ"))
        assert again.pk == a.pk and again.status == "approved" and again.label is False
    finally:
        fraud_flagged.disconnect(listener)


def test_scoring_with_an_active_model(monkeypatch):
    from ecom_ai.fraud.model import FraudModel
    from ecom_ai.fraud.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
    from tests.fraud.conftest import synthetic_assessments

    rows = synthetic_assessments(n=120)
    model = FraudModel(list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES), min_count=1)
    model.fit([r.features for r in rows], [int(r.label) for r in rows], epochs=15)
    now = timezone.now()
    result = score_order(
        facts(order_key="m1", placed_at=now, signed_up_at=now, amount="800", ip_country="NG"), model=model
    )
    assert result.scorer == "model" and result.probability > 0.5 and result.score >= 50
    pushed = [r for r in result.reasons if r["kind"] == "feature"]
    assert pushed and all(r["impact"] > 0 for r in pushed)
    assert {"minutes_since_signup", "amount", "ip_country"} & {r["code"] for r in pushed}
    low = score_order(
        facts(order_key="m2", placed_at=now, signed_up_at=now - timedelta(days=40), amount="30", ip_country="US"),
        model=model,
    )
    assert low.probability < result.probability


def test_unexpected_error_still_stores_an_assessment_to_review(monkeypatch):
    import ecom_ai.fraud.scoring as scoring

    def boom(facts):
        raise RuntimeError("feature store down")

    monkeypatch.setattr(scoring, "compute_features", boom)
    a = assess_facts(facts(order_key="err"))
    assert a.scorer == "error" and a.status == "pending_review" and a.level == "medium"
    assert "feature store down" in a.reasons[0]["message"]


def test_assess_order_reads_the_host_order_through_the_adapter(make_order):
    order = make_order(quantity=12, ip_address="203.0.113.9")
    a = assess_order(order, sync=True)
    assert a.order_key == str(order.pk) and a.order_number == order.number
    assert a.ip == "203.0.113.9" and a.device == "dev-1" and a.payment_fingerprint == "card-1"
    assert a.features["quantity_anomaly"] == 1 and a.features["channel"] == "web"


def test_disabled_scoring_does_nothing(make_order):
    from ecom_ai.models.fraud import FraudAssessment

    with override_settings(ECOM_AI={**__import__("django.conf").conf.settings.ECOM_AI, "FRAUD_ENABLED": False}):
        assert assess_order(make_order(), sync=True) is None
    assert not FraudAssessment.objects.exists()


def test_a_failing_model_falls_back_to_the_heuristic():
    class Broken:
        def explain(self, features):
            raise RuntimeError("bad artifact")

    result = score_order(facts(order_key="fb"), model=Broken())
    assert result.scorer == "heuristic" and result.model_version_id is None
    assert any(r["code"] == "model_failed" for r in result.reasons)


def test_async_assessment_goes_through_the_dispatcher_the_task_layer_plugs_in(
    make_order, django_capture_on_commit_callbacks
):
    import ast
    import inspect

    from ecom_ai.fraud import scoring
    from ecom_ai.models.fraud import FraudAssessment
    from ecom_ai.tasks.fraud import enqueue_assessment

    assert scoring._dispatcher is enqueue_assessment  # wired by EcomAIConfig.ready
    tree = ast.parse(inspect.getsource(scoring))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m and m.startswith("ecom_ai.tasks")]  # the domain never imports tasks

    sent = []
    scoring.set_dispatcher(lambda key, context: sent.append((key, context)))
    try:
        order = make_order()
        assert assess_order(order, sync=False) is None
        assert sent == [(str(order.pk), {})] and not FraudAssessment.objects.exists()
        scoring.set_dispatcher(None)  # nothing wired: scored in-process once the transaction commits
        with django_capture_on_commit_callbacks(execute=True):
            assert assess_order(order, sync=False) is None
        assert FraudAssessment.objects.get().order_key == str(order.pk)
    finally:
        scoring.set_dispatcher(enqueue_assessment)
