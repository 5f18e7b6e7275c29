"""Repeat-aware scoring: the model's next-item distribution mixed with the shopper's own recent items.

Shoppers come back to items they viewed, carted or bought: in a log that repeats items, a
good share of next events is an item of the shopper's own history, and *how recently* it was
had says how likely it comes back. ``RepeatPrior`` measures that on the training sequences:

* ``probs[r]``: the share of next events that are the shopper's ``r``-th most recent
  *distinct* item (``r = 0`` the latest; up to ``MAX_RANK``). Data that merges consecutive
  events on one item (``ecom_ai.recommend.data``) has ``probs[0] = 0``: the rule comes from
  the data, not from a constant.
* ``weight`` (ρ): chosen on the validation shoppers (``choose_weight``) from ``WEIGHTS``,
  0 when mixing does not help (then scoring is the model's alone); ``per_shopper`` (also
  chosen on validation): ρ scaled by the shopper's own repeat share (smoothed towards the
  overall one) over the overall share, so a shopper who keeps coming back to items gets more
  of their history.

The fused score of item ``i`` for a shopper is the log of

    (1 - ρ) · softmax(model logits)(i) + ρ · q(i),   q(i) = probs[r(i)] / Σ probs[r] over the shopper's ranks

(``q`` is 0 for items outside the shopper's ``MAX_RANK`` most recent distinct items). It is a
monotone function of the model's score for every other item, so top-k lists only change by
the shopper's own items moving up. The trainer's evaluation gate, ``benchmarks/recommend.py``
and serving (``SequentialRecommender.recommend``) all score through ``fuse`` here.

Data that (almost) never repeats an item of a shopper (``params.exclude_seen_default``: the
history is left out of the ranking) gets no prior at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ecom_ai.recommend.scoring import chunk_shape

MAX_RANK = 50
WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
SAMPLE_TRANSITIONS = 500_000
SMOOTHING = 10.0  # pseudo-transitions at the overall repeat share behind a shopper's own share
MAX_WEIGHT = 0.99


def recent_distinct(history: Sequence, max_rank: int = MAX_RANK) -> list[int]:
    """The distinct items of ``history`` (oldest → newest), most recent first, at most ``max_rank``."""
    out: list[int] = []
    seen: set[int] = set()
    for item in reversed(list(history)):
        item = int(item)
        if item in seen or item <= 0:
            continue
        seen.add(item)
        out.append(item)
        if len(out) >= max_rank:
            break
    return out


def rank_counts(sequences: Sequence, max_rank: int = MAX_RANK, sample: int = SAMPLE_TRANSITIONS):
    """``(counts per recency rank, transitions)``: how often the next item is the r-th most recent distinct one."""
    counts = np.zeros(max_rank, dtype=np.int64)
    transitions = 0
    for seq in sequences:
        if transitions >= sample:
            break
        recent: list[int] = []
        for item in np.asarray(seq).tolist():
            if recent:
                transitions += 1
                if item in recent:
                    r = recent.index(item)
                    counts[r] += 1
                    del recent[r]
            recent.insert(0, item)
            if len(recent) > max_rank:
                recent.pop()
    return counts, transitions


def own_repeat_share(history: Sequence, max_rank: int = MAX_RANK) -> tuple[int, int]:
    """``(repeats, transitions)`` of one shopper's history: how often its next item was a recent one."""
    counts, transitions = rank_counts([history], max_rank, sample=10**12)
    return int(counts.sum()), transitions


@dataclass
class RepeatPrior:
    probs: np.ndarray  # (MAX_RANK,) share of next events on the r-th most recent distinct item
    weight: float = 0.0  # ρ, the mixture weight (0: the model's scores alone)
    per_shopper: bool = False  # ρ scaled by the shopper's own (smoothed) repeat share / the overall one
    validation: dict | None = None  # {"ρ" or "ρ per shopper": validation ndcg@10} of the choice

    @classmethod
    def estimate(cls, sequences: Sequence, max_rank: int = MAX_RANK) -> RepeatPrior:
        counts, transitions = rank_counts(sequences, max_rank)
        return cls(probs=counts / max(1, transitions))

    @property
    def repeat_share(self) -> float:
        return float(self.probs.sum())

    @property
    def active(self) -> bool:
        return self.weight > 0 and self.repeat_share > 0

    def shopper_weight(self, history: Sequence, weight: float | None = None, per_shopper: bool | None = None) -> float:
        """ρ for this shopper: the weight, times (with ``per_shopper``) their smoothed repeat share / the overall one.

        A shopper's share is ``(repeats + m·s) / (transitions + m)`` with ``m = SMOOTHING``
        pseudo-transitions at the overall share ``s``: a short history stays near the overall weight.
        """
        rho = self.weight if weight is None else float(weight)
        if not (self.per_shopper if per_shopper is None else per_shopper) or rho <= 0:
            return rho
        overall = self.repeat_share
        if overall <= 0:
            return rho
        repeats, transitions = own_repeat_share(history, len(self.probs))
        own = (repeats + SMOOTHING * overall) / (transitions + SMOOTHING)
        return float(min(MAX_WEIGHT, rho * own / overall))

    def recent(self, history: Sequence) -> tuple[list[int], np.ndarray]:
        """``(items, q)``: the shopper's recent distinct items and their share of the repeat part (sums to 1)."""
        items = recent_distinct(history, len(self.probs))
        if not items:
            return [], np.zeros(0)
        p = self.probs[: len(items)]
        total = float(p.sum())
        if total <= 0:
            return [], np.zeros(0)
        keep = p > 0
        return [i for i, k in zip(items, keep) if k], (p / total)[keep]

    def as_dict(self) -> dict:
        return {
            "probs": [round(float(p), 6) for p in self.probs],
            "weight": float(self.weight),
            "per_shopper": bool(self.per_shopper),
            "repeat_share": round(self.repeat_share, 4),
            "validation": dict(self.validation or {}),
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> RepeatPrior | None:
        if not data:
            return None
        return cls(
            probs=np.asarray(data.get("probs") or [], dtype=np.float64),
            weight=float(data.get("weight", 0.0)),
            per_shopper=bool(data.get("per_shopper", False)),
        )

    def describe(self) -> str:
        top = ", ".join(f"{100 * p:.1f}%" for p in self.probs[:5])
        if self.weight > 0:
            chosen = f"weight {self.weight:g}{' scaled per shopper' if self.per_shopper else ''} chosen on validation"
        else:
            chosen = "weight 0 (mixing did not help on validation)"
        return (
            f"repeat-aware scoring: {100 * self.repeat_share:.1f}% of next events are one of the shopper's "
            f"{len(self.probs)} most recent items (by recency: {top}, ...); {chosen}"
        )


def _log_mixture(base: torch.Tensor, histories: Sequence, prior: RepeatPrior, rhos: Sequence[float]) -> torch.Tensor:
    """``base`` (log-softmax rows) mixed with each row's recent items at that row's ``rhos[r]``."""
    rhos_t = torch.as_tensor(np.asarray(rhos, dtype=np.float32))
    out = base + torch.log1p(-rhos_t.clamp(max=MAX_WEIGHT)).unsqueeze(1)
    for r, history in enumerate(histories):
        rho = float(rhos[r])
        if rho <= 0:
            continue
        items, q = prior.recent(history)
        if not items:
            continue
        cols = torch.as_tensor(items, dtype=torch.long)
        bonus = torch.from_numpy(np.log(rho * q)).float()
        out[r, cols] = torch.logaddexp(out[r, cols], bonus)
    return out


def _log_softmax(scores: torch.Tensor) -> torch.Tensor:
    scores = scores.float()
    scores[:, 0] = float("-inf")
    return torch.log_softmax(scores, dim=1)


def fuse(
    scores: torch.Tensor,
    histories: Sequence,
    prior: RepeatPrior,
    weight: float | None = None,
    per_shopper: bool | None = None,
) -> torch.Tensor:
    """``log((1 - ρ)·softmax(scores) + ρ·q)`` per row (``scores``: ``(rows, n_items + 1)``, column 0 padding).

    ``histories[r]``: row ``r``'s item codes, oldest → newest (ρ of that row:
    ``prior.shopper_weight``). ``scores``' column 0 is set to ``-inf`` in place (the result
    is a new tensor).
    """
    base = _log_softmax(scores)
    rhos = [prior.shopper_weight(h, weight, per_shopper) for h in histories]
    if not any(r > 0 for r in rhos):
        return base
    return _log_mixture(base, histories, prior, rhos)


def fused_scorer(
    score_fn: Callable[[np.ndarray], torch.Tensor],
    histories: Sequence,
    prior: RepeatPrior,
    weight: float | None = None,
    per_shopper: bool | None = None,
) -> Callable[[np.ndarray], torch.Tensor]:
    """``score_fn`` for ``ranking_metrics`` (and ``scoring.target_ranks``) with ``fuse`` applied to each chunk."""

    def score(idx):
        return fuse(torch.as_tensor(score_fn(idx)), [histories[int(u)] for u in idx], prior, weight, per_shopper)

    return score


def choose_weight(
    prior: RepeatPrior,
    score_fn: Callable[[np.ndarray], torch.Tensor],
    targets: np.ndarray,
    histories: Sequence,
    n_items: int,
    *,
    memory_mb: float | None = None,
    weights: Sequence[float] = WEIGHTS,
) -> RepeatPrior:
    """``prior`` with the weight (one for all, or scaled per shopper) of best validation NDCG@10.

    Every candidate is scored on the same chunks (the model's scores are computed once per
    chunk); ties go to the smaller weight, then to one weight for all.
    """
    targets = np.asarray(targets, dtype=np.int64)
    variants = [(float(w), False) for w in weights] + [(float(w), True) for w in weights if w > 0]
    gains = {v: 0.0 for v in variants}
    rows, _ = chunk_shape(len(targets), n_items + 1, memory_mb)
    rows = max(1, rows // 2)  # the base and one candidate's scores at once
    for start in range(0, len(targets), rows):
        idx = np.arange(start, min(len(targets), start + rows))
        base = _log_softmax(torch.as_tensor(score_fn(idx)))
        chunk_histories = [histories[int(u)] for u in idx]
        tgt = torch.from_numpy(targets[idx])
        own = [prior.shopper_weight(h, 1.0, True) for h in chunk_histories]
        for rho, per_shopper in variants:
            rhos = [rho * o for o in own] if per_shopper else [rho] * len(idx)
            fused = _log_mixture(base, chunk_histories, prior, rhos) if rho > 0 else base
            target_scores = fused[torch.arange(len(idx)), tgt].unsqueeze(1)
            ranks = (fused > target_scores).sum(1) + ((fused == target_scores).sum(1) - 1) // 2
            ranks = ranks.numpy()
            gains[(rho, per_shopper)] += float(np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0).sum())
            del fused
    n = max(1, len(targets))
    results = {v: round(g / n, 5) for v, g in gains.items()}
    best = max(results, key=lambda v: (results[v], -v[0], not v[1]))
    if prior.repeat_share <= 0:
        best = (0.0, False)
    shown = {f"{rho:g}{' per shopper' if per else ''}": value for (rho, per), value in results.items()}
    return RepeatPrior(probs=prior.probs, weight=best[0], per_shopper=best[1] and best[0] > 0, validation=shown)
