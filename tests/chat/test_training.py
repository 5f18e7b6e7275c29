"""The intent classifier: small pack with the built-in encoder, OOS, registry round trip."""

import pytest
from django.core.management import call_command

from ecom_ai.chat.classifier import IntentClassifier, fit_intent_classifier
from ecom_ai.models import Intent, IntentExample

SMALL = {
    "greeting": ["hi", "hello", "hey there", "good morning", "你好", "您好"],
    "refund": [
        "I want a refund",
        "give me my money back",
        "refund please",
        "when is my refund coming",
        "我要退款",
        "退款多久到账",
    ],
    "order_status": [
        "where is my order",
        "track my parcel",
        "has my order shipped",
        "order status",
        "我的订单在哪里",
        "查询物流",
    ],
}
BUILTIN = {"kind": "builtin", "dim": 4096}


@pytest.fixture(scope="module")
def small_classifier():
    texts = [t for ts in SMALL.values() for t in ts]
    labels = [name for name, ts in SMALL.items() for _ in ts]
    return fit_intent_classifier(texts, labels, encoder_spec=BUILTIN, epochs=5)


def test_small_pack_classifies_english_and_chinese(small_classifier):
    cases = {
        "hello!": "greeting",
        "where's my parcel": "order_status",
        "refund my money": "refund",
        "我要退款": "refund",
        "我的订单": "order_status",
    }
    for text, expected in cases.items():
        assert small_classifier.predict(text, threshold=0.0, min_similarity=-1).intent == expected, text


def test_out_of_scope_below_threshold(small_classifier):
    prediction = small_classifier.predict("qwxz jjj vvv", threshold=0.9)
    assert prediction.out_of_scope and prediction.intent == "" and prediction.best_guess in SMALL
    assert small_classifier.predict("hello", threshold=0.5).intent == "greeting"


def test_payload_round_trip(small_classifier):
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(small_classifier.to_payload(), buffer)
    data = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)  # what the registry allows
    loaded = IntentClassifier.from_bytes(data)
    for text in ("hello", "refund please", "track my parcel"):
        a, b = small_classifier.predict(text), loaded.predict(text)
        assert a.best_guess == b.best_guess and abs(a.confidence - b.confidence) < 1e-5


def test_needs_two_intents():
    with pytest.raises(ValueError):
        fit_intent_classifier(["a", "b"], ["x", "x"], encoder_spec=BUILTIN)


@pytest.mark.slow
@pytest.mark.django_db
def test_trainer_through_registry(settings):
    from ecom_ai.ml.registry import clear_loaded_models, load_active, train_model

    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ENCODER": "builtin"}
    for name, texts in SMALL.items():
        intent = Intent.objects.create(name=name)
        IntentExample.objects.bulk_create(IntentExample(intent=intent, text=t) for t in texts)
    clear_loaded_models()
    settings.ECOM_AI = {**settings.ECOM_AI, "QUALITY_FLOORS": {"intent": None}}  # 6 examples an intent: tiny
    version = train_model("intent", {"epochs": 5})
    assert version.status == "active"
    # with the floor in force it would stay ready: too few examples per intent; and it is
    # compared with a TF-IDF baseline trained and scored on the same split
    from ecom_ai.ml.quality import check_floor
    from ecom_ai.ml.registry import get_trainer

    assert 0 <= version.metrics["tfidf_macro_f1"] <= 1 and version.metrics["min_examples_per_intent"] == 6
    settings.ECOM_AI = {**settings.ECOM_AI, "QUALITY_FLOORS": {}}
    verdict = check_floor(get_trainer("intent"), version.metrics)
    assert not verdict.passed and "trained on 6 examples in the smallest intent, at least 10" in verdict.summary()
    assert "beat:TF-IDF baseline" in {c.code for c in verdict.checks}
    assert 0 <= version.metrics["macro_f1"] <= 1 and version.metrics["examples"] == 18
    assert {k.split("/")[1] for k in version.metrics if k.startswith("recall/")} == set(SMALL)
    classifier = load_active("intent")
    assert isinstance(classifier, IntentClassifier)
    assert classifier.predict("hello", threshold=0).intent == "greeting"
    from django.core.cache import cache

    cache.clear()  # the version is rolled back with the test: forget it
    clear_loaded_models()


@pytest.mark.django_db
def test_trainer_not_enough_data():
    from ecom_ai.ml.registry import NotEnoughData, train_model

    Intent.objects.create(name="lonely")  # exists, so the default pack is not loaded
    with pytest.raises(NotEnoughData):
        train_model("intent")


@pytest.mark.django_db
def test_load_pack_command_is_idempotent():
    call_command("ecom_ai_load_chat_pack", "--articles")
    counts = (Intent.objects.count(), IntentExample.objects.count())
    assert counts[0] >= 15 and counts[1] >= 200
    assert set(IntentExample.objects.values_list("language", flat=True)) == {"en", "zh"}
    Intent.objects.filter(name="greeting").update(answer_template="Welcome to our shop!")
    call_command("ecom_ai_load_chat_pack", "--articles")
    assert (Intent.objects.count(), IntentExample.objects.count()) == counts
    assert Intent.objects.get(name="greeting").answer_template == "Welcome to our shop!"  # edits kept
