"""Exploration of a deployed policy: every arm keeps a known, non-zero probability.

The deployed policy is ε-greedy (or a softmax) over the arms, with a probability floor, and
the probability of the arm it took is logged with the decision (its *propensity*): any
later policy can then be evaluated off-line without bias (``ecom_ai.marketing.ope``).
"""

from __future__ import annotations

import numpy as np


def epsilon_greedy(best: int, arms: int, epsilon: float) -> np.ndarray:
    """``1 − ε`` on ``best`` plus ``ε`` spread evenly over all ``arms`` (``best`` included)."""
    epsilon = min(max(float(epsilon), 0.0), 1.0)
    probs = np.full(arms, epsilon / arms, dtype=np.float64)
    probs[best] += 1.0 - epsilon
    return probs


def softmax(scores, temperature: float = 1.0) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    temperature = max(float(temperature), 1e-6)
    z = (scores - scores.max()) / temperature
    e = np.exp(z)
    return e / e.sum()


def with_floor(probs, floor: float) -> np.ndarray:
    """Mix ``probs`` with the uniform distribution so every arm has at least ``floor`` (≤ 1/arms)."""
    probs = np.asarray(probs, dtype=np.float64)
    arms = len(probs)
    floor = min(max(float(floor), 0.0), 1.0 / arms)
    if floor <= 0:
        return probs / probs.sum()
    low = probs.min()
    if low >= floor:
        return probs / probs.sum()
    # the smallest mixing weight that lifts the smallest probability to the floor
    weight = (floor - low) / (1.0 / arms - low)
    mixed = (1.0 - weight) * probs + weight / arms
    return mixed / mixed.sum()


def sample(probs, rng) -> int:
    """An arm index drawn from ``probs`` with ``rng`` (a ``random.Random``)."""
    u = rng.random()
    cumulative = 0.0
    for index, p in enumerate(probs):
        cumulative += p
        if u < cumulative:
            return index
    return len(probs) - 1
