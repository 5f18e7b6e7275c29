"""Memory-bounded scoring of users × items: top-k lists and the rank of a held-out item.

Every place that scores many shoppers against the whole catalogue (the benchmark, the
trainer's evaluation, serving) goes through here, so none of them ever holds the dense
``users × items`` matrix: users are scored in chunks (and, for catalogues so large that one
row does not fit, items too), each chunk's exclusions are applied to that chunk only, and a
running ``torch.topk`` keeps the best ``k`` per user.

The budget is ``ECOM_AI["RECOMMEND_SCORING_MEMORY_MB"]`` (``memory_budget_mb()``; code that
runs without Django settings, such as ``benchmarks/recommend.py``, passes ``memory_mb``
itself). It bounds the scores held at once (a chunk and the few temporaries computed from
it), not the process: the item vectors, the model and the results come on top.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

DEFAULT_MEMORY_MB = 256
# a chunk's float32 scores plus what is computed from them at once (comparison masks, the
# exclusion copy, the top-k merge): budgeted as this many float32 copies of the chunk
COPIES = 4


def memory_budget_mb() -> float:
    """``ECOM_AI["RECOMMEND_SCORING_MEMORY_MB"]``, or the default outside a configured Django project."""
    try:
        from ecom_ai.conf import settings as ecom_settings

        return float(ecom_settings.RECOMMEND_SCORING_MEMORY_MB)
    except Exception:  # no Django settings (a script): the default
        return float(DEFAULT_MEMORY_MB)


def chunk_shape(n_rows: int, n_cols: int, memory_mb: float | None = None) -> tuple[int, int]:
    """``(rows, cols)`` of a chunk whose scores and temporaries fit ``memory_mb``."""
    budget = float(memory_mb if memory_mb is not None else memory_budget_mb()) * 1024 * 1024
    cells = max(1024, int(budget // (4 * COPIES)))
    if n_cols <= cells:
        return max(1, min(n_rows, cells // max(1, n_cols))), n_cols
    return 1, cells


def top_k(
    queries: torch.Tensor,
    items: torch.Tensor,
    k: int,
    *,
    exclude: Sequence | None = None,
    padding: bool = True,
    memory_mb: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best items per query by inner product; ``(values, indices)``, each ``(n, k)``.

    ``items`` is ``(n_items (+ 1), dim)``; with ``padding`` its row 0 is the padding item and
    never returned. ``exclude[q]``: item indices never returned for query ``q``. Slots with no
    item left (``k`` larger than what remains) hold ``-inf`` and index 0.
    """
    n, n_cols = queries.shape[0], items.shape[0]
    k = max(0, min(int(k), n_cols))
    values = torch.full((n, k), float("-inf"))
    indices = torch.zeros((n, k), dtype=torch.long)
    if n == 0 or k == 0:
        return values, indices
    rows, cols = chunk_shape(n, n_cols, memory_mb)
    cols = max(cols, k)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        best_v = torch.full((r1 - r0, k), float("-inf"))
        best_i = torch.zeros((r1 - r0, k), dtype=torch.long)
        for c0 in range(0, n_cols, cols):
            c1 = min(n_cols, c0 + cols)
            scores = (queries[r0:r1] @ items[c0:c1].T).float()
            if padding and c0 == 0:
                scores[:, 0] = float("-inf")
            if exclude is not None:
                _mask(scores, exclude, r0, r1, c0, c1)
            kk = min(k, c1 - c0)
            v, i = torch.topk(scores, kk, dim=1)
            del scores
            merged_v = torch.cat([best_v, v], 1)
            merged_i = torch.cat([best_i, i + c0], 1)
            best_v, pos = torch.topk(merged_v, k, dim=1)
            best_i = merged_i.gather(1, pos)
        best_i[best_v == float("-inf")] = 0
        values[r0:r1], indices[r0:r1] = best_v, best_i
    return values, indices


def _mask(scores: torch.Tensor, exclude: Sequence, r0: int, r1: int, c0: int, c1: int) -> None:
    for r in range(r0, r1):
        excluded = exclude[r]
        if excluded is None or len(excluded) == 0:
            continue
        cols = torch.as_tensor(np.asarray(excluded, dtype=np.int64))
        cols = cols[(cols >= c0) & (cols < c1)] - c0
        if len(cols):
            scores[r - r0, cols] = float("-inf")


def target_ranks(
    score_chunk: Callable[[np.ndarray], torch.Tensor],
    targets: np.ndarray,
    n_cols: int,
    *,
    exclude: Sequence | None = None,
    memory_mb: float | None = None,
) -> np.ndarray:
    """The 0-based rank of each user's target among all items (ties count half).

    ``score_chunk(user_indices) -> (len, n_cols)`` scores (column 0 is padding, ignored).
    ``exclude[u]``: items left out of user ``u``'s ranking (never the target itself). Users
    are scored ``chunk_shape`` rows at a time.
    """
    targets = np.asarray(targets, dtype=np.int64)
    rows, _ = chunk_shape(len(targets), n_cols, memory_mb)
    out = np.zeros(len(targets), dtype=np.int64)
    for start in range(0, len(targets), rows):
        idx = np.arange(start, min(len(targets), start + rows))
        scores = torch.as_tensor(score_chunk(idx), dtype=torch.float32)
        scores[:, 0] = float("-inf")
        tgt = torch.from_numpy(targets[idx])
        target_scores = scores[torch.arange(len(idx)), tgt].clone()
        if exclude is not None:
            _mask(scores, exclude, int(idx[0]), int(idx[-1]) + 1, 0, n_cols)
            scores[torch.arange(len(idx)), tgt] = target_scores  # the target is never excluded
        greater = (scores > target_scores.unsqueeze(1)).sum(1)
        ties = (scores == target_scores.unsqueeze(1)).sum(1) - 1
        out[idx] = (greater + ties // 2).numpy()
        del scores
    return out


def matrix_scorer(queries: torch.Tensor, items: torch.Tensor) -> Callable[[np.ndarray], torch.Tensor]:
    """``score_chunk`` for ``target_ranks`` from user vectors × item vectors (computed per chunk)."""

    def score(idx):
        return queries[torch.as_tensor(idx)] @ items.T

    return score
