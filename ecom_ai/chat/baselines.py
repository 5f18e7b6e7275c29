"""The simple intent classifier the trained one must beat: TF-IDF + logistic regression.

The quality floor of kind ``intent`` (``ecom_ai.ml.quality``) compares the classifier's
held-out ``macro_f1`` with this baseline, trained on exactly the same training examples
and scored on the same held-out ones (``tfidf_macro_f1``, ``tfidf_accuracy``).

Features: lower-cased word unigrams and bigrams (letters and digits; CJK characters one
by one), sublinear term frequency, smoothed IDF, L2-normalised rows — what
scikit-learn's ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)`` computes. The
classifier is a multinomial logistic regression (L2), fitted full-batch with L-BFGS in torch
on the CPU. No dependency beyond NumPy and torch.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
MAX_FEATURES = 20_000


def tokens(text: str) -> list[str]:
    words = []
    for word in TOKEN.findall(str(text).lower()):
        if CJK.search(word):
            words.extend(ch for ch in word)
        else:
            words.append(word)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


class TfidfVectorizer:
    def fit(self, texts):
        df: dict[str, int] = {}
        for text in texts:
            for term in set(tokens(text)):
                df[term] = df.get(term, 0) + 1
        terms = sorted(df, key=lambda t: (-df[t], t))[:MAX_FEATURES]
        self.vocabulary = {t: i for i, t in enumerate(terms)}
        n = len(texts)
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in terms], dtype=np.float32)
        return self

    def transform(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for term in tokens(text):
                index = self.vocabulary.get(term)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            for index, count in counts.items():
                out[row, index] = 1 + math.log(count)
        out *= self.idf
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1)


def fit_predict(train_texts, train_labels, test_texts, *, l2: float = 1e-4, steps: int = 100):
    """Labels predicted for ``test_texts`` by TF-IDF + logistic regression fitted on the training examples."""
    names = sorted(set(train_labels))
    index = {name: i for i, name in enumerate(names)}
    vectorizer = TfidfVectorizer().fit(train_texts)
    x = torch.from_numpy(vectorizer.transform(train_texts)).to_sparse()  # ~99 % zeros: sparse products
    y = torch.tensor([index[label] for label in train_labels])
    weight = torch.zeros(x.shape[1], len(names), requires_grad=True)
    bias = torch.zeros(len(names), requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=steps, history_size=10, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(torch.sparse.mm(x, weight) + bias, y) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        scores = torch.from_numpy(vectorizer.transform(test_texts)) @ weight + bias
    return [names[i] for i in scores.argmax(dim=1).tolist()]


def macro_f1(predicted, truth) -> float:
    f1s = []
    for name in sorted(set(truth)):
        tp = sum(1 for p, t in zip(predicted, truth) if p == name and t == name)
        guessed = sum(1 for p in predicted if p == name)
        support = sum(1 for t in truth if t == name)
        precision = tp / guessed if guessed else 0.0
        recall = tp / support if support else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


def tfidf_baseline_metrics(train_texts, train_labels, test_texts, test_labels) -> dict:
    """``{"tfidf_macro_f1", "tfidf_accuracy"}`` of the baseline on the held-out examples."""
    if not len(test_texts) or len(set(train_labels)) < 2:
        return {}
    predicted = fit_predict(list(train_texts), list(train_labels), list(test_texts))
    truth = list(test_labels)
    return {
        "tfidf_macro_f1": macro_f1(predicted, truth),
        "tfidf_accuracy": float(np.mean([p == t for p, t in zip(predicted, truth)])),
    }
