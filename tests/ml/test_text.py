import logging

import numpy as np
import pytest

from ecom_ai.ml.text import HashingTextEncoder, SentenceTransformerEncoder, get_text_encoder


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_default_is_the_hashing_encoder_and_cached(ecom_ai_settings):
    ecom_ai_settings()
    encoder = get_text_encoder()
    assert isinstance(encoder, HashingTextEncoder)
    assert get_text_encoder() is encoder
    vectors = encoder.encode(["red running shoes", "红色跑鞋", ""])
    assert vectors.shape == (3, encoder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0)
    assert not vectors[2].any()


def test_unloadable_sentence_transformer_falls_back_with_warning(ecom_ai_settings, caplog):
    ecom_ai_settings(
        TEXT_ENCODER="ecom_ai.ml.text.SentenceTransformerEncoder",
        SENTENCE_TRANSFORMER_MODEL="/nonexistent/no-such-model",
    )
    with caplog.at_level(logging.WARNING, logger="ecom_ai.ml"):
        encoder = get_text_encoder()
    assert isinstance(encoder, HashingTextEncoder)
    assert "cannot be loaded" in caplog.text and "no-such-model" in caplog.text


def test_settings_change_resets_the_cache(ecom_ai_settings):
    ecom_ai_settings()
    first = get_text_encoder()
    ecom_ai_settings(SEED=7)
    assert get_text_encoder() is not first


@pytest.fixture(scope="module")
def minilm():
    return SentenceTransformerEncoder("all-MiniLM-L6-v2")


def test_offline_minilm_loads_and_gives_normalised_384d_vectors(minilm):
    vectors = minilm.encode(["Where is my order?", "Track my parcel", "Red running shoes"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # meaning, not spelling


def test_naming_the_model_selects_it(ecom_ai_settings):
    ecom_ai_settings(SENTENCE_TRANSFORMER_MODEL="all-MiniLM-L6-v2")
    encoder = get_text_encoder()
    assert isinstance(encoder, SentenceTransformerEncoder) and encoder.dim == 384
