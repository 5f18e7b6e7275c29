"""Intent classifier: a sentence encoder + lexical TF-IDF features + a PyTorch head.

The encoder (see ``encoders.py``) is frozen. The head is a small MLP over the encoder's
embedding (a linear layer for the built-in n-gram encoder) plus a linear layer over hashed
word and character n-gram TF-IDF features (``lexical.py``); their logits add up. Meaning
comes from the embedding, exact wording (product words, typos, Chinese characters) from the
lexical part — together they beat either alone on another sample's phrasing.

Out-of-scope detection: a message is out of scope when the head's probability is below
``CHAT_INTENT_THRESHOLD`` or when it is not close to any intent's **prototypes** (a few
k-means centroids of each intent's example embeddings; cosine similarity under
``CHAT_OOS_MIN_SIMILARITY``, or under the floor calibrated at training time when that
setting is ``None``). The per-message cost is bounded by the number of intents × prototypes
per intent, whatever the number of examples.
"""

from __future__ import annotations

import io
import json
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from torch import nn

from ecom_ai.chat.encoders import encoder_from_spec, normalise
from ecom_ai.chat.lexical import DEFAULT_DIM as LEXICAL_DIM
from ecom_ai.chat.lexical import LexicalFeatures

MAX_PROTOTYPES_PER_INTENT = 8
EXAMPLES_PER_PROTOTYPE = 10
PAYLOAD_FORMAT = "ecom_ai.chat.intent/2"


@dataclass
class IntentPrediction:
    intent: str  # "" when out of scope
    confidence: float
    similarity: float
    best_guess: str  # the top intent even when out of scope
    vector: np.ndarray | None = None
    ranked: list[tuple[str, float]] = field(default_factory=list)  # the top 3 intents with their probabilities

    @property
    def out_of_scope(self) -> bool:
        return not self.intent


class IntentHead(nn.Module):
    """Logits = MLP(embedding) [+ linear(lexical TF-IDF features), a sparse matrix]."""

    def __init__(self, dim: int, n_labels: int, hidden: int = 256, dropout: float = 0.1, lexical_dim: int = 0):
        super().__init__()
        if hidden:
            self.net = nn.Sequential(
                nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels)
            )
        else:
            self.net = nn.Linear(dim, n_labels)
        self.lexical = nn.Linear(lexical_dim, n_labels, bias=False) if lexical_dim else None
        if self.lexical is not None:
            nn.init.zeros_(self.lexical.weight)

    def forward(self, x, lexical=None):
        logits = self.net(x)
        if self.lexical is not None and lexical is not None:
            logits = logits + torch.sparse.mm(lexical, self.lexical.weight.t())
        return logits


def _sparse_tensor(matrix: sparse.csr_matrix, device="cpu") -> torch.Tensor:
    coo = matrix.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(
        indices, torch.from_numpy(coo.data.astype(np.float32)), coo.shape, device=device, check_invariants=False
    ).coalesce()


class IntentClassifier:
    """A trained classifier; thread-safe for prediction."""

    def __init__(
        self,
        *,
        encoder_spec: dict,
        labels: list[str],
        head: IntentHead,
        hidden: int,
        prototypes: np.ndarray,
        prototype_labels: np.ndarray,
        calibrated_min_similarity: float,
        lexical: LexicalFeatures | None = None,
    ):
        self.encoder_spec = encoder_spec
        self.labels = list(labels)
        self.head = head.eval()
        self.hidden = hidden
        self.prototypes = normalise(prototypes)
        self.prototype_labels = np.asarray(prototype_labels, dtype=np.int64)
        self.calibrated_min_similarity = float(calibrated_min_similarity)
        self.lexical = lexical
        self._lock = threading.Lock()

    @property
    def encoder(self):
        return encoder_from_spec(self.encoder_spec)

    def encode(self, texts) -> np.ndarray:
        return normalise(self.encoder.encode(list(texts)))

    def predict(
        self,
        text: str,
        *,
        vector: np.ndarray | None = None,
        threshold: float | None = None,
        min_similarity: float | None = None,
    ) -> IntentPrediction:
        return self.predict_many(
            [text],
            vectors=None if vector is None else vector[None, :],
            threshold=threshold,
            min_similarity=min_similarity,
        )[0]

    def probabilities(self, texts, vectors: np.ndarray) -> np.ndarray:
        """``(len(texts), len(labels))`` intent probabilities."""
        texts = list(texts)
        lexical = None
        if self.lexical is not None and self.head.lexical is not None:
            lexical = _sparse_tensor(self.lexical.transform(texts))
        with self._lock, torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
            return torch.softmax(self.head(x, lexical), dim=1).numpy()

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        """Each message's cosine similarity to the closest intent prototype."""
        if not len(self.prototypes):
            return np.zeros(len(vectors), dtype=np.float32)
        return (np.asarray(vectors, dtype=np.float32) @ self.prototypes.T).max(axis=1)

    def predict_many(
        self,
        texts,
        *,
        vectors: np.ndarray | None = None,
        threshold: float | None = None,
        min_similarity: float | None = None,
    ) -> list[IntentPrediction]:
        from ecom_ai.conf import settings as ecom_settings

        texts = list(texts)
        if threshold is None:
            threshold = ecom_settings.CHAT_INTENT_THRESHOLD
        if min_similarity is None:
            min_similarity = ecom_settings.CHAT_OOS_MIN_SIMILARITY
        if min_similarity is None:
            min_similarity = self.calibrated_min_similarity
        if vectors is None:
            vectors = self.encode(texts)
        probs = self.probabilities(texts, vectors)
        sims = self.similarities(vectors)
        out = []
        for row in range(len(vectors)):
            best = int(probs[row].argmax())
            confidence = float(probs[row, best])
            similarity = float(sims[row])
            in_scope = confidence >= threshold and similarity >= min_similarity
            top = np.argsort(-probs[row])[:3]
            out.append(
                IntentPrediction(
                    intent=self.labels[best] if in_scope else "",
                    confidence=confidence,
                    similarity=similarity,
                    best_guess=self.labels[best],
                    vector=vectors[row],
                    ranked=[(self.labels[int(i)], float(probs[row, int(i)])) for i in top],
                )
            )
        return out

    # --- persistence -------------------------------------------------------------------
    def to_payload(self) -> dict:
        """Plain types and tensors only (what the registry's artifacts allow)."""
        payload = {
            "format": PAYLOAD_FORMAT,
            "encoder_spec": self.encoder_spec,
            "labels": self.labels,
            "hidden": self.hidden,
            "state_dict": self.head.state_dict(),
            "prototypes": torch.from_numpy(self.prototypes.astype(np.float16)),
            "prototype_labels": torch.from_numpy(self.prototype_labels),
            "calibrated_min_similarity": self.calibrated_min_similarity,
            "lexical_dim": self.lexical.dim if self.lexical is not None else 0,
        }
        if self.lexical is not None:
            payload["lexical_idf"] = torch.from_numpy(self.lexical.idf.astype(np.float16))
        return payload

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.to_payload(), buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data) -> "IntentClassifier":
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
        fmt = data.get("format")
        if fmt == "ecom_ai.chat.intent/1":  # kept examples: used as prototypes as they are
            prototypes, prototype_labels = data["example_vectors"], data["example_labels"]
        elif fmt == PAYLOAD_FORMAT:
            prototypes, prototype_labels = data["prototypes"], data["prototype_labels"]
        else:
            raise ValueError("not an ecom_ai intent classifier payload")
        state = data["state_dict"]
        lexical_dim = int(data.get("lexical_dim", 0))
        first = next(value for name, value in state.items() if name.startswith("net."))
        head = IntentHead(first.shape[1], len(data["labels"]), hidden=data["hidden"], lexical_dim=lexical_dim)
        head.load_state_dict(state)
        lexical = None
        if lexical_dim:
            lexical = LexicalFeatures(lexical_dim, idf=data["lexical_idf"].float().numpy())
        return cls(
            encoder_spec=data["encoder_spec"],
            labels=data["labels"],
            head=head,
            hidden=data["hidden"],
            prototypes=prototypes.float().numpy(),
            prototype_labels=prototype_labels.numpy(),
            calibrated_min_similarity=data["calibrated_min_similarity"],
            lexical=lexical,
        )


def intent_prototypes(
    vectors: np.ndarray,
    labels: np.ndarray,
    n_labels: int,
    *,
    seed: int = 1234,
    max_per_intent: int = MAX_PROTOTYPES_PER_INTENT,
    iterations: int = 8,
):
    """A few spherical k-means centroids per intent (one per ``EXAMPLES_PER_PROTOTYPE``
    examples, at most ``max_per_intent``): ``(prototypes, their intent indices)``."""
    rng = np.random.default_rng(seed)
    protos, owners = [], []
    for label in range(n_labels):
        rows = normalise(vectors[labels == label])
        if not len(rows):
            continue
        k = int(min(max_per_intent, max(1, len(rows) // EXAMPLES_PER_PROTOTYPE)))
        centres = rows[rng.choice(len(rows), k, replace=False)]
        for _ in range(iterations if k > 1 else 1):
            assign = (rows @ centres.T).argmax(axis=1)
            centres = normalise(
                np.vstack([rows[assign == j].sum(axis=0) if (assign == j).any() else centres[j] for j in range(k)])
            )
        if k == 1:
            centres = normalise(rows.sum(axis=0, keepdims=True))
        protos.append(centres)
        owners.extend([label] * k)
    if not protos:
        return np.zeros((0, vectors.shape[1]), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.vstack(protos).astype(np.float32), np.asarray(owners, dtype=np.int64)


OFF_TOPIC = Path(__file__).with_name("data") / "off_topic.json"
OFF_TOPIC_REJECTED = 90  # the floor rejects this percentage of the off-topic messages


def off_topic_messages() -> list[str]:
    """The packaged off-topic messages (EN + ZH) the similarity floor is calibrated on."""
    data = json.loads(OFF_TOPIC.read_text(encoding="utf-8"))
    return [text for language in ("en", "zh") for text in data.get(language, [])]


def _calibrate_min_similarity(
    vectors: np.ndarray, prototypes: np.ndarray, off_topic_vectors: np.ndarray | None = None
) -> float:
    """A similarity floor under which a message is unlike every intent.

    From off-topic messages, when given: the level that rejects ``OFF_TOPIC_REJECTED`` % of them
    (their similarity to the closest prototype), but never above the 2nd percentile of the
    training examples' own similarities (98 % of the phrasings trained on stay in scope). Without
    off-topic messages: that 2nd percentile, scaled down a little.

    (Until issue 14 the floor was the *lower* of the two; with a sentence encoder the
    training-example level is the lower one, so the floor let 29 % of the packaged off-topic
    messages through, not 10 %, and only a soft classifier's low confidence kept them out.)
    """
    if len(vectors) < 3 or not len(prototypes):
        return 0.0
    nearest = (normalise(vectors[:20000]) @ prototypes.T).max(axis=1)
    in_scope = float(max(0.0, np.percentile(nearest, 2)))
    if off_topic_vectors is not None and len(off_topic_vectors):
        off = (normalise(off_topic_vectors) @ prototypes.T).max(axis=1)
        return min(in_scope, float(max(0.0, np.percentile(off, OFF_TOPIC_REJECTED))))
    return in_scope * 0.8


def fit_intent_classifier(
    texts,
    labels,
    *,
    encoder_spec: dict,
    vectors: np.ndarray | None = None,
    hidden: int | None = None,
    epochs: int = 40,
    lr: float | None = None,
    weight_decay: float = 1e-4,
    batch_size: int = 128,
    seed: int = 1234,
    device: str = "cpu",
    max_steps: int = 3000,
    lexical: bool | None = None,
    c: float = 100.0,
    embedding_scale: float = 2.0,
    lbfgs_iterations: int = 200,
    lexical_dim: int = LEXICAL_DIM,
    lexical_lr: float = 3e-2,
    off_topic=None,
    off_topic_vectors: np.ndarray | None = None,
    progress=None,
) -> IntentClassifier:
    """Train the head on ``texts``/``labels`` (the encoder stays frozen).

    ``vectors`` may carry the texts' embeddings already computed with ``encoder_spec`` (the
    benchmark caches them); ``lexical`` adds the TF-IDF n-gram part (``lexical.py``; default:
    with every encoder but the built-in n-gram one);
    ``off_topic``: messages the out-of-scope floor is calibrated on (default: the packaged
    ones, ``data/off_topic.json``; ``[]`` for none), or their ``off_topic_vectors``;
    ``progress(epoch, total_epochs, loss)`` is called every epoch (every 10 L-BFGS steps).

    Default (``lexical``, ``hidden`` 0): multinomial logistic regression over the embedding
    and the TF-IDF features, fitted full batch with L-BFGS (``c``: inverse L2 strength, as in
    scikit-learn). ``hidden`` > 0 or ``lexical=False``: an MLP / linear head trained with AdamW
    and label smoothing (``epochs``, ``lr``, ``batch_size``, ``max_steps``).
    """
    texts = list(texts)
    if lexical is None:  # the built-in encoder is n-gram features already
        lexical = encoder_spec.get("kind") != "builtin"
    if hidden is None:  # with TF-IDF features or n-grams: a linear model; embeddings alone: an MLP
        hidden = 0 if lexical or encoder_spec.get("kind") == "builtin" else 256
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
    features = LexicalFeatures(lexical_dim).fit(texts) if lexical else None
    lexical_rows = features.transform(texts) if features is not None else None

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = IntentHead(
        vectors.shape[1], len(label_names), hidden=hidden, lexical_dim=lexical_dim if features is not None else 0
    ).to(device)
    if hidden == 0 and lexical_rows is not None:
        # a linear model over [embedding, TF-IDF]: full-batch L-BFGS, L2-regularised, no smoothing
        _fit_linear_lbfgs(
            head,
            vectors,
            lexical_rows,
            y,
            c=c,
            embedding_scale=embedding_scale,
            device=device,
            max_iter=lbfgs_iterations,
            progress=progress,
        )
        return _finish(
            head.cpu().eval(),
            encoder_spec,
            label_names,
            hidden,
            vectors,
            y,
            seed,
            features,
            off_topic,
            off_topic_vectors,
        )
    groups = [{"params": head.net.parameters(), "lr": lr}]
    if head.lexical is not None:
        groups.append({"params": head.lexical.parameters(), "lr": lexical_lr})
    optimiser = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    x_all = torch.from_numpy(vectors).to(device)
    y_all = torch.from_numpy(y).to(device)
    # small packs: enough optimisation steps even with few examples; large sets: at most max_steps
    steps_per_epoch = int(np.ceil(len(y) / batch_size))
    if steps_per_epoch * epochs < 300:
        epochs = int(np.ceil(300 / steps_per_epoch))
    if max_steps and steps_per_epoch * epochs > max_steps:
        epochs = max(1, int(np.ceil(max_steps / steps_per_epoch)))
    head.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            lexical_batch = _sparse_tensor(lexical_rows[batch.numpy()], device) if lexical_rows is not None else None
            batch = batch.to(device)
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(head(x_all[batch], lexical_batch), y_all[batch], label_smoothing=0.05)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        if progress:
            progress(epoch + 1, epochs, total / len(y))
    return _finish(
        head.cpu().eval(), encoder_spec, label_names, hidden, vectors, y, seed, features, off_topic, off_topic_vectors
    )


def _fit_linear_lbfgs(
    head: IntentHead,
    vectors: np.ndarray,
    lexical_rows,
    y: np.ndarray,
    *,
    c: float,
    embedding_scale: float,
    device: str,
    max_iter: int,
    progress=None,
) -> None:
    """Multinomial logistic regression on ``[embedding_scale × embedding, TF-IDF]`` (what
    scikit-learn's ``LogisticRegression(C=c)`` fits), full batch with L-BFGS.

    The L2 penalty per example is ``1 / (2 c n)``; the embedding's weights get
    ``1 / embedding_scale²`` of it (the same as scaling the embedding up): the embedding carries
    meaning that transfers to new phrasings, the n-grams the training set's own words."""
    n = len(y)
    x_all = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(device)
    s_all = _sparse_tensor(lexical_rows, device)
    if s_all.device.type == "cpu":  # CSR: a loss-and-gradient step ~4x cheaper than with COO on a CPU
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
            s_all = s_all.to_sparse_csr()
    y_all = torch.from_numpy(y).to(device)
    l2 = 1.0 / (2.0 * c * n)
    head.train()
    optimiser = torch.optim.LBFGS(
        head.parameters(), lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe"
    )
    calls = [0]

    def closure():
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(head(x_all, s_all), y_all)
        loss = loss + l2 * (head.net.weight.pow(2).sum() / embedding_scale**2 + head.lexical.weight.pow(2).sum())
        loss.backward()
        calls[0] += 1
        if progress and calls[0] % 10 == 0:
            progress(min(calls[0], max_iter), max_iter, float(loss.detach()))
        return loss

    optimiser.step(closure)
    if progress:
        progress(max_iter, max_iter, float(closure().detach()))


def _finish(
    head, encoder_spec, label_names, hidden, vectors, y, seed, features, off_topic, off_topic_vectors
) -> IntentClassifier:
    # a few prototypes per intent for the out-of-scope similarity check
    prototypes, owners = intent_prototypes(vectors, y, len(label_names), seed=seed)
    if off_topic_vectors is None:
        off_topic = off_topic_messages() if off_topic is None else list(off_topic)
        if off_topic:
            off_topic_vectors = encoder_from_spec(encoder_spec).encode(off_topic)
            if off_topic_vectors.shape[1] != vectors.shape[1]:  # vectors of another encoder were passed
                off_topic_vectors = None
    return IntentClassifier(
        encoder_spec=encoder_spec,
        labels=label_names,
        head=head,
        hidden=hidden,
        prototypes=prototypes,
        prototype_labels=owners,
        calibrated_min_similarity=_calibrate_min_similarity(vectors, prototypes, off_topic_vectors),
        lexical=features,
    )
