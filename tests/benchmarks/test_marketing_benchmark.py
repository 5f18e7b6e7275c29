"""benchmarks/marketing.py's protocol helpers on tiny arrays (the real run is `make bench`-sized)."""

import numpy as np

from benchmarks.marketing import choose, ips_value, t_interval


def test_ips_value_of_a_policy_under_uniform_logging():
    arm = np.array([0, 1, 2, 0, 1, 2])
    reward = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    assert ips_value(np.full(6, 2), arm, reward) == 3.0  # "always arm 2" is worth 3
    assert ips_value(np.zeros(6, int), arm, reward) == 1.0


def test_choose_sends_the_better_email_only_when_it_pays_the_cost():
    gains = np.array([[0.2, 0.9], [0.6, 0.1], [0.1, 0.2]])
    assert choose(gains, 0.5).tolist() == [2, 1, 0]
    assert choose(gains, 0.0).tolist() == [2, 1, 2]


def test_t_interval_covers_the_mean():
    mean, low, high = t_interval([0.1, 0.2, 0.3, 0.2])
    assert low < mean < high and abs(mean - 0.2) < 1e-12
