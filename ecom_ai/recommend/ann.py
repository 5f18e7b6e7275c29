"""Approximate top-k over a large catalogue: a faiss inverted-file index of the item vectors.

A shopper's score for an item is ``state · item vector`` (maximum inner product). The index
searches by distance, so the vectors get one extra coordinate that makes every item's norm
equal (``sqrt(M² − |v|²)``, Bachrach et al. 2014) and the query a 0 there: the nearest item
by L2 is then the one with the largest inner product, and the index answers exactly the
question exact scoring answers, only approximately.

The index is IVF-Flat: k-means cells (about 2·√n of them), each query scans the
``nprobe`` cells nearest to it (about 1/32 of the cells, at least 16) exactly. It builds in
about a minute of one core for a million items (HNSW graphs take several times longer)
and answers in about a millisecond.

Serving (``SequentialRecommender.recommend``) uses an index when the catalogue has at least
``ECOM_AI["RECOMMEND_ANN_MIN_ITEMS"]`` items and faiss is installed (``pip install
ecom-ai[ann]``, the ``faiss-cpu`` wheel); below that, or without faiss, scoring is exact
(``ecom_ai.recommend.scoring``). The trainer builds the index once and stores it with the
model version, so web processes only load it. ``benchmarks/recommend_scale.py`` measures
latency and recall@10 against exact scoring.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MIN_ITEMS = 200_000
TRAIN_POINTS_PER_CELL = 64  # k-means sample: at most this many items per cell


def available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def min_items() -> int:
    """``ECOM_AI["RECOMMEND_ANN_MIN_ITEMS"]``, or the default outside a configured Django project."""
    try:
        from ecom_ai.conf import settings as ecom_settings

        return int(ecom_settings.RECOMMEND_ANN_MIN_ITEMS)
    except Exception:  # no Django settings (a script): the default
        return DEFAULT_MIN_ITEMS


def wanted(n_items: int) -> bool:
    """Whether serving a catalogue of ``n_items`` should use an index (and can)."""
    return n_items >= min_items() and available()


def _cells(n: int) -> int:
    return max(1, min(n, int(2 * np.sqrt(n))))


def _probes(cells: int) -> int:
    return min(cells, max(16, cells // 32))


class ItemIndex:
    """An inverted-file index of item vectors for maximum-inner-product search.

    ``vectors`` is ``(n_items + 1, dim)`` with row 0 the padding item (not indexed); ids
    returned are item codes 1..n.
    """

    def __init__(self, index, dim: int):
        self.index, self.dim = index, dim

    @classmethod
    def build(
        cls, vectors: np.ndarray, *, cells: int | None = None, nprobe: int | None = None, seed: int = 1234
    ) -> ItemIndex:
        import faiss

        items = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[1:])
        norms = np.linalg.norm(items, axis=1)
        extra = np.sqrt(np.maximum(0.0, float(norms.max(initial=0.0)) ** 2 - norms**2)).astype(np.float32)
        augmented = np.ascontiguousarray(np.hstack([items, extra[:, None]]))
        cells = cells or _cells(len(items))
        quantizer = faiss.IndexFlatL2(augmented.shape[1])
        index = faiss.IndexIVFFlat(quantizer, augmented.shape[1], cells)
        index.cp.seed = seed
        index.cp.min_points_per_centroid = 1  # small catalogues: no warning, the cells are just smaller
        sample = augmented
        if len(augmented) > cells * TRAIN_POINTS_PER_CELL:
            pick = np.random.default_rng(seed).choice(len(augmented), cells * TRAIN_POINTS_PER_CELL, replace=False)
            sample = augmented[np.sort(pick)]
        index.train(sample)
        index.add(augmented)
        index.nprobe = nprobe or _probes(cells)
        return cls(index, items.shape[1])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, found)``: up to ``k`` item codes (1..n) per query row, best first; -1 pads."""
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        augmented = np.ascontiguousarray(np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)]))
        k = max(1, min(int(k), self.index.ntotal))
        _, ids = self.index.search(augmented, k)
        return np.where(ids >= 0, ids + 1, -1), (ids >= 0).sum(1)

    def to_bytes(self) -> np.ndarray:
        import faiss

        return faiss.serialize_index(self.index)

    @classmethod
    def from_bytes(cls, data, dim: int) -> ItemIndex:
        import faiss

        index = faiss.deserialize_index(np.asarray(data, dtype=np.uint8))
        return cls(index, dim)
