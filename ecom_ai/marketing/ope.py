"""Off-policy evaluation: the value of a policy from decisions another policy logged.

Inputs, for ``n`` logged decisions over ``K`` arms:

* ``rewards`` (n,) — the outcome of each decision (net revenue, conversion...);
* ``actions`` (n,) — the arm index the logging policy took;
* ``propensities`` (n,) — the probability it took it with (logged by ``decide``);
* ``target`` (n, K) — the probabilities of the policy being evaluated, per decision
  (one-hot for a deterministic policy);
* ``q`` (n, K) — a reward model's prediction per arm (doubly robust only).

Estimators (all unbiased or consistent when the logged propensities are right):

* **IPS** — ``mean(w · r)`` with ``w = π(a|x) / p``;
* **SNIPS** — self-normalized IPS, ``Σ w·r / Σ w`` (lower variance, slightly biased);
* **DR** — doubly robust, ``mean(Σ_k π_k q_k + w · (r − q_a))`` (unbiased when either the
  propensities or the reward model are right; lowest variance when ``q`` is good).

``clip`` caps the weights (variance control, a little bias). Every estimate comes with a
percentile **bootstrap** confidence interval over decisions; ``compare`` gives the paired
difference of two policies on the same decisions (resampled together), which is much
tighter than the two intervals apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ESTIMATORS = ("ips", "snips", "dr")


@dataclass
class Estimate:
    estimator: str
    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def _arrays(rewards, actions, propensities, target, q=None):
    r = np.asarray(rewards, dtype=np.float64)
    a = np.asarray(actions, dtype=np.int64)
    p = np.asarray(propensities, dtype=np.float64)
    pi = np.asarray(target, dtype=np.float64)
    if pi.ndim != 2 or pi.shape[0] != len(r) or len(a) != len(r) or len(p) != len(r):
        raise ValueError("rewards, actions, propensities and target must describe the same decisions")
    if np.any(p <= 0) or np.any(p > 1 + 1e-9):
        raise ValueError("propensities must be in (0, 1]")
    if q is not None:
        q = np.asarray(q, dtype=np.float64)
        if q.shape != pi.shape:
            raise ValueError("q must have the shape of target")
    return r, a, p, pi, q


def weights(actions, propensities, target, clip: float | None = None) -> np.ndarray:
    a = np.asarray(actions, dtype=np.int64)
    w = np.asarray(target, dtype=np.float64)[np.arange(len(a)), a] / np.asarray(propensities, dtype=np.float64)
    return np.minimum(w, clip) if clip else w


def contributions(estimator: str, rewards, actions, propensities, target, q=None, clip: float | None = None):
    """Per-decision terms ``(numerator, denominator)``: the estimate is ``Σ num / Σ den``."""
    r, a, p, pi, q = _arrays(rewards, actions, propensities, target, q)
    w = weights(a, p, pi, clip)
    if estimator == "ips":
        return w * r, np.ones_like(r)
    if estimator == "snips":
        return w * r, w
    if estimator == "dr":
        if q is None:
            raise ValueError("the doubly robust estimate needs a reward model (q)")
        direct = (pi * q).sum(axis=1)
        return direct + w * (r - q[np.arange(len(a)), a]), np.ones_like(r)
    raise ValueError(f"unknown estimator {estimator!r} (known: {', '.join(ESTIMATORS)})")


def _ratio(num, den) -> float:
    total = den.sum()
    return float(num.sum() / total) if total > 0 else 0.0


def _bootstrap_indices(n: int, samples: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(samples):
        yield rng.integers(0, n, n)


def estimate(
    estimator: str,
    rewards,
    actions,
    propensities,
    target,
    q=None,
    *,
    clip: float | None = None,
    bootstrap: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """One estimate with its ``1 − alpha`` percentile bootstrap interval."""
    num, den = contributions(estimator, rewards, actions, propensities, target, q, clip)
    value = _ratio(num, den)
    n = len(num)
    if n == 0:
        return Estimate(estimator, 0.0, 0.0, 0.0, 0)
    draws = np.array([_ratio(num[i], den[i]) for i in _bootstrap_indices(n, bootstrap, seed)]) if bootstrap else None
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2]) if draws is not None else (value, value)
    return Estimate(estimator, value, float(low), float(high), n)


def evaluate(
    rewards, actions, propensities, target, q=None, *, clip: float | None = None, bootstrap: int = 200, seed: int = 0
) -> dict:
    """``{"ips": Estimate, "snips": Estimate, "dr": Estimate}`` (DR only with ``q``)."""
    out = {}
    for name in ESTIMATORS:
        if name == "dr" and q is None:
            continue
        out[name] = estimate(name, rewards, actions, propensities, target, q, clip=clip, bootstrap=bootstrap, seed=seed)
    return out


def compare(
    estimator: str,
    rewards,
    actions,
    propensities,
    target_a,
    target_b,
    q=None,
    *,
    clip: float | None = None,
    bootstrap: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """The paired difference ``value(a) − value(b)`` on the same decisions, with its interval."""
    num_a, den_a = contributions(estimator, rewards, actions, propensities, target_a, q, clip)
    num_b, den_b = contributions(estimator, rewards, actions, propensities, target_b, q, clip)
    value = _ratio(num_a, den_a) - _ratio(num_b, den_b)
    n = len(num_a)
    if n == 0 or not bootstrap:
        return Estimate(f"{estimator} difference", value, value, value, n)
    draws = np.array(
        [_ratio(num_a[i], den_a[i]) - _ratio(num_b[i], den_b[i]) for i in _bootstrap_indices(n, bootstrap, seed)]
    )
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return Estimate(f"{estimator} difference", value, float(low), float(high), n)


def one_hot(choices, arms: int) -> np.ndarray:
    """The target matrix of a deterministic policy that takes ``choices[i]``."""
    choices = np.asarray(choices, dtype=np.int64)
    out = np.zeros((len(choices), arms), dtype=np.float64)
    out[np.arange(len(choices)), choices] = 1.0
    return out


def fixed(n: int, arms: int, arm: int) -> np.ndarray:
    """The target matrix of "always ``arm``"."""
    return one_hot(np.full(n, arm), arms)
