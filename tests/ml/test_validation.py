"""Validation helpers: out-of-fold scores are measured inside each fold, never pooled."""

import numpy as np

from ecom_ai.fraud.training import _roc_auc, evaluate
from ecom_ai.ml.validation import bootstrap_interval, within_groups


def two_folds_on_different_scales():
    # each fold's model ranks its own orders perfectly, but fold 1's model scores everything
    # low (it was trained on a low fraud rate) and fold 2's everything high
    y = np.array([1, 1, 0, 0, 0, 0] + [1, 0, 0, 0, 0, 0])
    p = np.array([0.30, 0.25, 0.10, 0.05, 0.04, 0.02] + [0.99, 0.90, 0.85, 0.80, 0.75, 0.70])
    groups = np.array([1] * 6 + [2] * 6)
    return y, p, groups


def test_pooled_scores_mislead_and_within_fold_scores_do_not():
    y, p, groups = two_folds_on_different_scales()
    assert _roc_auc(y, p) < 0.8  # fold 2's legitimate orders outrank fold 1's frauds
    assert within_groups(_roc_auc)(y, p, groups) == 1.0
    assert evaluate(y, p, groups)["roc_auc"] == 1.0
    assert evaluate(y, p)["roc_auc"] == _roc_auc(y, p)


def test_within_groups_skips_folds_without_both_classes_and_weights_by_pairs():
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])  # fold 2 is ranked backwards
    groups = np.array([1, 1, 1, 1, 2, 2, 2, 2, 2, 2])
    # fold 1: 1 × 3 pairs all right; fold 2: 2 × 4 pairs all wrong → 3 / 11
    assert abs(within_groups(_roc_auc)(y, p, groups) - 3 / 11) < 1e-9
    assert within_groups(_roc_auc)(np.array([1, 1, 0, 0]), np.zeros(4), np.array([1, 1, 2, 2])) is None


def test_bootstrap_interval_with_groups_brackets_the_estimate():
    y, p, groups = two_folds_on_different_scales()
    y, p, groups = np.tile(y, 5), np.tile(p, 5), np.tile(groups, 5)
    low, high = bootstrap_interval(within_groups(_roc_auc), y, p, n_boot=50, seed=1, groups=groups)
    assert low == high == 1.0


def test_blocked_folds_deal_contiguous_periods_round_robin():
    from ecom_ai.ml.validation import blocked_folds

    plain = blocked_folds(10, 2)
    assert [list(test) for _, test in plain] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    folds = blocked_folds(20, 2, blocks_per_fold=2)  # blocks of 5: [0-4] [5-9] [10-14] [15-19]
    assert [list(test) for _, test in folds] == [
        [0, 1, 2, 3, 4, 10, 11, 12, 13, 14],
        [5, 6, 7, 8, 9, 15, 16, 17, 18, 19],
    ]
    for train, test in folds:
        assert sorted(list(train) + list(test)) == list(range(20))
