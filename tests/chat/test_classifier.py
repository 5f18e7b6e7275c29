"""Classifier internals: bounded prototypes for the out-of-scope check, the lexical TF-IDF
part, and loading payloads of the previous format."""

import io

import numpy as np
import torch

from ecom_ai.chat.classifier import MAX_PROTOTYPES_PER_INTENT, IntentClassifier, IntentHead, fit_intent_classifier
from ecom_ai.chat.lexical import LexicalFeatures

BUILTIN = {"kind": "builtin", "dim": 4096}


def test_out_of_scope_check_cost_does_not_grow_with_the_examples():
    rng = np.random.default_rng(0)
    for per_intent in (20, 400):
        labels = [f"intent{i}" for i in range(3) for _ in range(per_intent)]
        texts = [f"message {n}" for n in range(len(labels))]
        vectors = rng.normal(size=(len(labels), 16)).astype(np.float32)
        classifier = fit_intent_classifier(
            texts, labels, encoder_spec=BUILTIN, vectors=vectors, epochs=1, lexical=False
        )
        assert len(classifier.prototypes) <= 3 * MAX_PROTOTYPES_PER_INTENT
        assert set(classifier.prototype_labels.tolist()) == {0, 1, 2}
    assert len(classifier.prototypes) == 3 * MAX_PROTOTYPES_PER_INTENT


def test_similarity_is_to_the_closest_prototype():
    texts = ["a1", "a2", "a3", "b1", "b2", "b3"]
    labels = ["a", "a", "a", "b", "b", "b"]
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [1, 0.1, 0], [0, 1, 0], [0, 1, 0.1], [0.1, 1, 0]], dtype=np.float32)
    classifier = fit_intent_classifier(texts, labels, encoder_spec=BUILTIN, vectors=vectors, epochs=1, lexical=False)
    far = classifier.predict_many(["?"], vectors=np.array([[0, 0, 1]], dtype=np.float32), threshold=0.0)[0]
    near = classifier.predict_many(["?"], vectors=np.array([[1, 0, 0]], dtype=np.float32), threshold=0.0)[0]
    assert far.similarity < 0.2 and far.out_of_scope
    assert near.similarity > 0.95 and near.intent == "a"


def test_lexical_features_are_hashed_tfidf_rows():
    features = LexicalFeatures(dim=1024).fit(["where is my order", "refund please", "我的订单在哪里"])
    rows = features.transform(["where is my order", "我的订单", ""])
    assert rows.shape == (3, 1024)
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    assert np.allclose(norms[:2], 1.0, atol=1e-5) and norms[2] == 0


def test_lexical_part_learns_words_the_embedding_does_not_separate():
    # identical embeddings: only the words tell the intents apart
    texts = [
        "cancel my order",
        "cancel it please",
        "stop the order",
        "refund my money",
        "money back please",
        "refund please",
    ] * 3
    labels = ["cancel", "cancel", "cancel", "refund", "refund", "refund"] * 3
    vectors = np.ones((len(texts), 8), dtype=np.float32)
    classifier = fit_intent_classifier(texts, labels, encoder_spec=BUILTIN, vectors=vectors, lexical=True)
    same = np.ones((2, 8), dtype=np.float32)
    predictions = classifier.predict_many(["please cancel", "my money"], vectors=same, threshold=0.0, min_similarity=-1)
    assert [p.intent for p in predictions] == ["cancel", "refund"]


def test_payload_of_the_previous_format_still_loads():
    head = IntentHead(4096, 2, hidden=0)
    payload = {
        "format": "ecom_ai.chat.intent/1",
        "encoder_spec": BUILTIN,
        "labels": ["a", "b"],
        "hidden": 0,
        "state_dict": head.state_dict(),
        "example_vectors": torch.ones(3, 4096, dtype=torch.float16),
        "example_labels": torch.tensor([0, 1, 1]),
        "calibrated_min_similarity": 0.1,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    loaded = IntentClassifier.from_bytes(buffer.getvalue())
    assert loaded.lexical is None and loaded.prototypes.shape == (3, 4096)
    assert loaded.predict("anything", threshold=0.0).best_guess in {"a", "b"}


def test_prediction_ranks_the_top_intents():
    texts = ["a1", "a2", "b1", "b2", "c1", "c2"]
    labels = ["a", "a", "b", "b", "c", "c"]
    vectors = np.eye(3, dtype=np.float32)[[0, 0, 1, 1, 2, 2]]
    classifier = fit_intent_classifier(texts, labels, encoder_spec=BUILTIN, vectors=vectors, epochs=5, lexical=False)
    prediction = classifier.predict_many(["?"], vectors=np.array([[1, 0.2, 0]], dtype=np.float32))[0]
    assert [name for name, _ in prediction.ranked][0] == "a" == prediction.best_guess
    assert len(prediction.ranked) == 3 and prediction.ranked[0][1] >= prediction.ranked[1][1] >= prediction.ranked[2][1]
