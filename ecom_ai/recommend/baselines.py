"""The simple recommenders the sequential model must beat, measured on its own hold-out.

The quality floor of kind ``recommender`` (``ecom_ai.ml.quality``) compares the model's
``ndcg@10`` with these two on exactly the same held-out next events:

* **popularity** — every shopper gets the items most often in the training sequences;
* **co-occurrence** — items that followed the shopper's last three items (within three
  steps) in the training sequences, the latest weighing most; ties and shoppers without
  neighbours fall back to popularity (what "also viewed / also bought" serves).

``baseline_metrics(holdout, n_items)`` returns ``{"popularity_ndcg@10", "popularity_hr@10",
"cooccurrence_ndcg@10", "cooccurrence_hr@10"}``. NumPy only.
"""

from __future__ import annotations

import numpy as np

from ecom_ai.recommend.evaluation import ranking_metrics

WINDOW = 3
RECENT_WEIGHTS = (1.0, 0.5, 0.25)


def popularity_scores(sequences, n_items: int) -> np.ndarray:
    counts = np.zeros(n_items + 1, dtype=np.float64)
    tokens = [np.asarray(s, dtype=np.int64) for s in sequences if len(s)]
    if tokens:
        counts += np.bincount(np.concatenate(tokens), minlength=n_items + 1)[: n_items + 1]
    counts[0] = 0.0
    return counts


def transition_table(sequences, n_items: int):
    """CSR ``(indptr, indices, counts)`` of "b followed a within ``WINDOW`` steps"."""
    width = n_items + 1
    pairs = []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        for step in range(1, WINDOW + 1):
            if len(seq) > step:
                pairs.append(seq[:-step] * width + seq[step:])
    if not pairs:
        return np.zeros(width + 1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    codes, counts = np.unique(np.concatenate(pairs), return_counts=True)
    rows, cols = codes // width, codes % width
    indptr = np.zeros(width + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    return np.cumsum(indptr), cols, counts.astype(np.float64)


def baseline_metrics(holdout, n_items: int, k: int = 10) -> dict:
    """Popularity and co-occurrence ranking metrics on ``holdout`` (``leave_last_out``'s result)."""
    if not len(holdout.targets):
        return {}
    popular = popularity_scores(holdout.train.items, n_items)
    tie_break = popular / (popular.max() or 1.0) * 1e-3
    indptr, indices, counts = transition_table(holdout.train.items, n_items)
    histories = holdout.inputs.items

    def popularity(idx):
        return np.tile(popular, (len(idx), 1))

    def cooccurrence(idx):
        out = np.tile(tie_break, (len(idx), 1))
        for row, case in enumerate(idx):
            recent = list(histories[case])[-WINDOW:][::-1]
            for weight, item in zip(RECENT_WEIGHTS, recent):
                start, end = indptr[item], indptr[item + 1]
                out[row, indices[start:end]] += weight * counts[start:end]
        return out

    out = {}
    for name, score_fn in (("popularity", popularity), ("cooccurrence", cooccurrence)):
        metrics = ranking_metrics(score_fn, holdout.targets, histories, n_items, k=k, negatives=0)
        out[f"{name}_ndcg@{k}"] = metrics[f"ndcg@{k}"]
        out[f"{name}_hr@{k}"] = metrics[f"hr@{k}"]
    return out
