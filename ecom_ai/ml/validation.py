"""Validation helpers shared by the trainers: time-blocked folds and bootstrap intervals.

* ``blocked_folds(n, k, blocks_per_fold)``: rows in time order cut into ``k × blocks_per_fold``
  contiguous blocks, dealt round-robin to ``k`` folds; each fold is held out once while a
  model trains on the others (blocked cross-validation). Contiguous blocks keep a burst of
  related orders (one ring, one day's velocity) on one side; dealing several blocks to each
  fold lets every fold model see every season, so a pattern confined to one period (say,
  January) is not missing from the very models that are asked to recognise it. Used when the
  newest window alone cannot validate a model (too few positives, a class mix unlike the
  rest of the history).
* ``bootstrap_interval(metric, y, p)``: a percentile confidence interval of a metric over
  resampled cases, stratified by class so every resample holds both classes (ROC-AUC and
  PR-AUC need them).
* ``mean_interval(values)``: the same for a mean of per-case values (NDCG per shopper...).

NumPy only; deterministic for a given ``seed``.
"""

from __future__ import annotations

import numpy as np


def blocked_folds(n: int, k: int, blocks_per_fold: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train indices, test indices), ...]``: ``range(n)`` cut into ``k * blocks_per_fold``
    contiguous blocks, block ``b`` held out in fold ``b % k`` (``blocks_per_fold=1``: ``k``
    plain contiguous blocks)."""
    k = max(2, min(int(k), n))
    blocks = max(k, min(k * max(1, int(blocks_per_fold)), n))
    edges = np.linspace(0, n, blocks + 1).round().astype(int)
    fold_of = np.empty(n, dtype=np.int64)
    for b, (start, end) in enumerate(zip(edges[:-1], edges[1:])):
        fold_of[start:end] = b % k
    everything = np.arange(n)
    return [(everything[fold_of != j], everything[fold_of == j]) for j in range(k)]


def stratified_holdout(labels, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held out)`` indices: ``fraction`` of each class held out at random (at least one
    of each class when the class has two or more rows)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for value in np.unique(labels):
        rows = np.flatnonzero(labels == value)
        rng.shuffle(rows)
        n = int(round(len(rows) * fraction))
        if len(rows) >= 2:
            n = min(max(n, 1), len(rows) - 1)
        picked.extend(rows[:n].tolist())
    held = np.array(sorted(picked), dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held)
    return kept, held


def bootstrap_interval(metric, y, p, *, n_boot: int = 200, alpha: float = 0.05, seed: int = 0, groups=None) -> tuple:
    """``(low, high)``: the ``1 - alpha`` percentile interval of ``metric(y, p)`` over ``n_boot``
    class-stratified resamples; ``(None, None)`` when a class is missing. With ``groups``
    (a fold id per row) the metric is called as ``metric(y, p, groups)`` on each resample."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if not len(pos) or not len(neg):
        return None, None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        value = metric(y[idx], p[idx]) if groups is None else metric(y[idx], p[idx], np.asarray(groups)[idx])
        if value is not None and np.isfinite(value):
            values.append(value)
    if not values:
        return None, None
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def mean_interval(values, *, n_boot: int = 200, alpha: float = 0.05, seed: int = 0) -> tuple:
    """``(low, high)`` of the mean of ``values`` over bootstrap resamples (``(None, None)`` if empty)."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return None, None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def within_groups(metric, weight: str = "pairs"):
    """``metric`` measured inside each group (fold) and averaged, as ``f(y, p, groups)``.

    Out-of-fold scores of different fold models are not on one scale (each model saw a
    different fraud rate), so pooling them into one ranking compares orders across models
    and can put a whole fold's frauds below another fold's legitimate orders. Averaging
    inside folds compares only orders scored by the same model. ``weight``: ``"pairs"``
    (positives × negatives: for ROC-AUC this is exactly the AUC over within-fold pairs) or
    ``"positives"``. Groups without both classes are skipped; ``None`` when none is left.
    """

    def measured(y, p, groups):
        y, p, groups = np.asarray(y).astype(int), np.asarray(p, dtype=np.float64), np.asarray(groups)
        total = weights = 0.0
        for group in np.unique(groups):
            mask = groups == group
            positives = int(y[mask].sum())
            negatives = int(mask.sum()) - positives
            if not positives or not negatives:
                continue
            w = float(positives * negatives if weight == "pairs" else positives)
            total += w * metric(y[mask], p[mask])
            weights += w
        return total / weights if weights else None

    return measured
