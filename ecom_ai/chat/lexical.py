"""Lexical features of the intent classifier: hashed TF-IDF of words, word pairs and character
n-grams (what a TF-IDF word+char linear model sees), as a sparse matrix.

Terms: lower-cased words, word bigrams, character 2–5-grams inside each padded word, and for
Chinese/Japanese/Korean text single characters and character pairs. Each term is hashed
(CRC32) into ``dim`` buckets; a row is sublinear term frequency × smoothed IDF (learned at
fit time over the buckets), L2-normalised. No vocabulary to store: the fitted state is the
IDF vector (one float per bucket).
"""

from __future__ import annotations

import re
import zlib

import numpy as np
from scipy import sparse

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
DEFAULT_DIM = 1 << 15


def terms(text: str, char_ngrams=(2, 3, 4, 5)) -> list[str]:
    text = (text or "").lower()
    words = _WORD_RE.findall(text)
    out = [f"w:{w}" for w in words]
    out += [f"b:{a}_{b}" for a, b in zip(words, words[1:])]
    for word in words:
        if _CJK_RE.search(word):
            chars = [c for c in word]
            out += [f"u:{c}" for c in chars]
            out += [f"p:{a}{b}" for a, b in zip(chars, chars[1:])]
            continue
        padded = f" {word} "
        for n in char_ngrams:
            out += [f"c:{padded[i : i + n]}" for i in range(max(0, len(padded) - n + 1))]
    return out


class LexicalFeatures:
    """Hashed sublinear TF-IDF; ``fit(texts)`` learns the IDF, ``transform(texts)`` -> CSR."""

    def __init__(self, dim: int = DEFAULT_DIM, idf: np.ndarray | None = None):
        self.dim = int(dim)
        self.idf = None if idf is None else np.asarray(idf, dtype=np.float32)

    def _counts(self, texts) -> sparse.csr_matrix:
        indptr, indices, data = [0], [], []
        for text in texts:
            counts: dict[int, int] = {}
            for term in terms(text):
                bucket = zlib.crc32(term.encode("utf-8")) % self.dim
                counts[bucket] = counts.get(bucket, 0) + 1
            indices.extend(counts.keys())
            data.extend(counts.values())
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (
                np.asarray(data, dtype=np.float32),
                np.asarray(indices, dtype=np.int64),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(indptr) - 1, self.dim),
        )

    def fit(self, texts) -> "LexicalFeatures":
        counts = self._counts(list(texts))
        df = np.bincount(counts.indices, minlength=self.dim).astype(np.float32)
        n = counts.shape[0]
        self.idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        return self

    def transform(self, texts) -> sparse.csr_matrix:
        if self.idf is None:
            raise ValueError("LexicalFeatures.transform() before fit()")
        matrix = self._counts(list(texts))
        matrix.data = (1 + np.log(matrix.data)) * self.idf[matrix.indices]
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1 / norms.astype(np.float32)) @ matrix, dtype=np.float32)

    def fit_transform(self, texts) -> sparse.csr_matrix:
        texts = list(texts)
        return self.fit(texts).transform(texts)
