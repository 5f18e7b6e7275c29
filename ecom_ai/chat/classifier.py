"""Intent classifier: a sentence encoder + a PyTorch classification head.

The encoder (see ``encoders.py``) is frozen; the head (a small MLP) is trained on the intent
examples. Out-of-scope detection: a message is out of scope when the head's probability is
below ``CHAT_INTENT_THRESHOLD`` or when it is not close to any training example (cosine
similarity under ``CHAT_OOS_MIN_SIMILARITY``, or under the threshold calibrated at training
time when that setting is ``None``).
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ecom_ai.chat.encoders import encoder_from_spec, normalise

MAX_EXAMPLES_KEPT_PER_INTENT = 200


@dataclass
class IntentPrediction:
    intent: str  # "" when out of scope
    confidence: float
    similarity: float
    best_guess: str  # the top intent even when out of scope
    vector: np.ndarray | None = None

    @property
    def out_of_scope(self) -> bool:
        return not self.intent


class IntentHead(nn.Module):
    def __init__(self, dim: int, n_labels: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        if hidden:
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels))
        else:
            self.net = nn.Linear(dim, n_labels)

    def forward(self, x):
        return self.net(x)


class IntentClassifier:
    """A trained classifier; thread-safe for prediction."""

    def __init__(self, *, encoder_spec: dict, labels: list[str], head: IntentHead, hidden: int,
                 example_vectors: np.ndarray, example_labels: np.ndarray, calibrated_min_similarity: float):
        self.encoder_spec = encoder_spec
        self.labels = list(labels)
        self.head = head.eval()
        self.hidden = hidden
        self.example_vectors = normalise(example_vectors)
        self.example_labels = np.asarray(example_labels, dtype=np.int64)
        self.calibrated_min_similarity = float(calibrated_min_similarity)
        self._lock = threading.Lock()

    @property
    def encoder(self):
        return encoder_from_spec(self.encoder_spec)

    def encode(self, texts) -> np.ndarray:
        return normalise(self.encoder.encode(list(texts)))

    def predict(self, text: str, *, vector: np.ndarray | None = None, threshold: float | None = None,
                min_similarity: float | None = None) -> IntentPrediction:
        return self.predict_many([text], vectors=None if vector is None else vector[None, :],
                                 threshold=threshold, min_similarity=min_similarity)[0]

    def predict_many(self, texts, *, vectors: np.ndarray | None = None, threshold: float | None = None,
                     min_similarity: float | None = None) -> list[IntentPrediction]:
        from ecom_ai.conf import settings as ecom_settings

        if threshold is None:
            threshold = ecom_settings.CHAT_INTENT_THRESHOLD
        if min_similarity is None:
            min_similarity = ecom_settings.CHAT_OOS_MIN_SIMILARITY
        if min_similarity is None:
            min_similarity = self.calibrated_min_similarity
        if vectors is None:
            vectors = self.encode(texts)
        with self._lock, torch.no_grad():
            probs = torch.softmax(self.head(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))), dim=1).numpy()
        sims = vectors @ self.example_vectors.T if len(self.example_vectors) else np.zeros((len(vectors), 1))
        out = []
        for row in range(len(vectors)):
            best = int(probs[row].argmax())
            confidence = float(probs[row, best])
            similarity = float(sims[row].max()) if sims.shape[1] else 0.0
            in_scope = confidence >= threshold and similarity >= min_similarity
            out.append(IntentPrediction(
                intent=self.labels[best] if in_scope else "",
                confidence=confidence, similarity=similarity, best_guess=self.labels[best],
                vector=vectors[row],
            ))
        return out

    # --- persistence -------------------------------------------------------------------
    def to_payload(self) -> dict:
        """Plain types and tensors only (what the registry's artifacts allow)."""
        return {
            "format": "ecom_ai.chat.intent/1",
            "encoder_spec": self.encoder_spec,
            "labels": self.labels,
            "hidden": self.hidden,
            "state_dict": self.head.state_dict(),
            "example_vectors": torch.from_numpy(self.example_vectors.astype(np.float16)),
            "example_labels": torch.from_numpy(self.example_labels),
            "calibrated_min_similarity": self.calibrated_min_similarity,
        }

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.to_payload(), buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data) -> "IntentClassifier":
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
        if data.get("format") != "ecom_ai.chat.intent/1":
            raise ValueError("not an ecom_ai intent classifier payload")
        vectors = data["example_vectors"].float().numpy()
        dim = next(iter(data["state_dict"].values())).shape[1]
        head = IntentHead(dim, len(data["labels"]), hidden=data["hidden"])
        head.load_state_dict(data["state_dict"])
        return cls(encoder_spec=data["encoder_spec"], labels=data["labels"], head=head, hidden=data["hidden"],
                   example_vectors=vectors, example_labels=data["example_labels"].numpy(),
                   calibrated_min_similarity=data["calibrated_min_similarity"])


def _calibrate_min_similarity(vectors: np.ndarray, labels: np.ndarray) -> float:
    """A similarity floor under which a message is unlike every training example.

    Each example's similarity to its nearest *other* example of the same intent, the 2nd
    percentile, scaled down a little: in-scope phrasings are (almost) all above it.
    """
    if len(vectors) < 3:
        return 0.0
    sample = vectors[:4000]
    sims = sample @ vectors.T
    np.fill_diagonal(sims[:, : len(sample)], -1.0)
    same = labels[: len(sample), None] == labels[None, :]
    nearest = np.where(same, sims, -1.0).max(axis=1)
    nearest = nearest[nearest > -1.0]
    if not len(nearest):
        return 0.0
    return float(max(0.0, np.percentile(nearest, 2) * 0.8))


def fit_intent_classifier(texts, labels, *, encoder_spec: dict, vectors: np.ndarray | None = None,
                          hidden: int | None = None, epochs: int = 40, lr: float | None = None, weight_decay: float = 1e-4,
                          batch_size: int = 128, seed: int = 1234, device: str = "cpu",
                          progress=None) -> IntentClassifier:
    """Train the head on ``texts``/``labels`` (the encoder stays frozen).

    ``vectors`` may carry the texts' embeddings already computed with ``encoder_spec`` (the
    benchmark caches them); ``progress(epoch, total_epochs, loss)`` is called every epoch.
    """
    texts = list(texts)
    if hidden is None:  # n-gram features are near-separable: a linear head; embeddings: an MLP
        hidden = 0 if encoder_spec.get("kind") == "builtin" else 256
    if lr is None:  # a linear head on unit vectors needs large weights: a larger step
        lr = 3e-2 if hidden == 0 else 3e-3
    label_names = sorted(set(labels))
    if len(label_names) < 2:
        raise ValueError("an intent classifier needs examples of at least two intents")
    index = {name: i for i, name in enumerate(label_names)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    if vectors is None:
        vectors = encoder_from_spec(encoder_spec).encode(texts)
    vectors = normalise(vectors)

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = IntentHead(vectors.shape[1], len(label_names), hidden=hidden).to(device)
    optimiser = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    x_all = torch.from_numpy(vectors).to(device)
    y_all = torch.from_numpy(y).to(device)
    # small packs: enough optimisation steps even with few examples
    steps_per_epoch = int(np.ceil(len(y) / batch_size))
    if steps_per_epoch * epochs < 300:
        epochs = int(np.ceil(300 / steps_per_epoch))
    head.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(y), batch_size):
            batch = order[start:start + batch_size]
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(head(x_all[batch]), y_all[batch], label_smoothing=0.05)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        if progress:
            progress(epoch + 1, epochs, total / len(y))
    head = head.cpu().eval()

    # keep a bounded sample of examples per intent for the out-of-scope similarity check
    rng = np.random.default_rng(seed)
    keep = []
    for i in range(len(label_names)):
        rows = np.flatnonzero(y == i)
        if len(rows) > MAX_EXAMPLES_KEPT_PER_INTENT:
            rows = rng.choice(rows, MAX_EXAMPLES_KEPT_PER_INTENT, replace=False)
        keep.extend(rows.tolist())
    keep = np.array(sorted(keep))
    return IntentClassifier(
        encoder_spec=encoder_spec, labels=label_names, head=head, hidden=hidden,
        example_vectors=vectors[keep], example_labels=y[keep],
        calibrated_min_similarity=_calibrate_min_similarity(vectors[keep], y[keep]),
    )
