"""Next-item ranking metrics: HR@k and NDCG@k, full ranking and sampled negatives.

Used by the recommender's evaluation gate and by ``benchmarks/recommend.py`` for every
model compared there, so all are measured the same way:

* **full ranking**: the held-out item's rank among all items (items listed in
  ``exclude`` — e.g. the shopper's history when ``exclude_seen`` — are left out, never
  the target itself); ties with the target count half (a constant scorer gets no credit
  for ties).
* **sampled**: its rank among ``negatives`` items drawn uniformly from the items the user
  never interacted with (the SASRec paper's protocol, 100 negatives).
"""

from __future__ import annotations

import numpy as np
import torch

from ecom_ai.recommend.scoring import chunk_shape


def _ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def ranking_metrics(
    score_fn,
    targets,
    histories,
    n_items: int,
    *,
    k: int = 10,
    exclude_seen: bool = False,
    negatives: int = 100,
    seed: int = 0,
    chunk: int | None = None,
    memory_mb: float | None = None,
) -> dict:
    """Metrics of ``score_fn`` on held-out ``targets``.

    ``score_fn(user_indices) -> (len, n_items + 1)`` scores (column 0 is padding, ignored);
    ``targets``: item codes 1..n (one per user); ``histories``: the item codes each user had
    (for ``exclude_seen`` and for sampling negatives). ``negatives=0`` skips the sampled
    protocol. Returns ``{"hr@k", "ndcg@k", "hr@k_sampled", "ndcg@k_sampled", "users"}``.
    Users are scored ``chunk`` at a time (default: as many as ``memory_mb`` allows,
    ``ecom_ai.recommend.scoring``), so no more than one chunk's scores is ever held.
    """
    targets = np.asarray(targets, dtype=np.int64)
    if chunk is None:
        chunk, _ = chunk_shape(len(targets), n_items + 1, memory_mb)
    rng = np.random.default_rng(seed)
    full_ranks, sampled_ranks = [], []
    for start in range(0, len(targets), chunk):
        idx = np.arange(start, min(len(targets), start + chunk))
        scores = torch.as_tensor(score_fn(idx), dtype=torch.float32).clone()
        scores[:, 0] = float("-inf")
        tgt = torch.from_numpy(targets[idx])
        rows = torch.arange(len(idx))
        target_scores = scores[rows, tgt].clone()
        if exclude_seen:
            for r, u in enumerate(idx):
                seen = torch.as_tensor(np.asarray(histories[u], dtype=np.int64))
                scores[r, seen] = float("-inf")
            scores[rows, tgt] = target_scores
        greater = (scores > target_scores.unsqueeze(1)).sum(1)
        ties = (scores == target_scores.unsqueeze(1)).sum(1) - 1
        full_ranks.append((greater + ties // 2).numpy())
        del greater, ties
        if negatives:
            sample = np.empty((len(idx), negatives), dtype=np.int64)
            for r, u in enumerate(idx):
                seen = set(np.asarray(histories[u]).tolist())
                seen.add(int(targets[u]))
                pool = []
                while len(pool) < negatives:
                    draw = rng.integers(1, n_items + 1, size=2 * negatives)
                    pool.extend(int(x) for x in draw if x not in seen)
                    if len(seen) >= n_items:
                        break
                pool = (pool + [0] * negatives)[:negatives]
                sample[r] = pool
            neg_scores = scores.gather(1, torch.from_numpy(sample))  # negatives are never seen items
            neg_scores[torch.from_numpy(sample) == 0] = float("-inf")
            greater = (neg_scores > target_scores.unsqueeze(1)).sum(1)
            ties = (neg_scores == target_scores.unsqueeze(1)).sum(1)
            sampled_ranks.append((greater + ties // 2).numpy())
    full = np.concatenate(full_ranks) if full_ranks else np.zeros(0)
    out = {
        f"hr@{k}": float((full < k).mean()) if len(full) else 0.0,
        f"ndcg@{k}": float(_ndcg(full, k).mean()) if len(full) else 0.0,
        "users": int(len(full)),
    }
    if negatives and sampled_ranks:
        sampled = np.concatenate(sampled_ranks)
        out[f"hr@{k}_sampled"] = float((sampled < k).mean())
        out[f"ndcg@{k}_sampled"] = float(_ndcg(sampled, k).mean())
    return out
