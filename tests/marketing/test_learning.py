"""Off-policy evaluation and the learners on arrays with known answers."""

import random

import numpy as np
import pytest
import torch

from ecom_ai.marketing import ope
from ecom_ai.marketing.exploration import epsilon_greedy, with_floor
from ecom_ai.marketing.learners import (
    CampaignPolicy,
    LoggedData,
    fit_policy_gradient,
    fit_q_network,
    policy_payload,
    select_policy,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def world(n, seed, signal=True):
    """Two arms; arm 1 pays 1.0 where x0 > 0 and 0.2 elsewhere (or 0.5 everywhere without signal);
    arm 0 pays 0.5. Logged uniformly at random (propensity 0.5)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    a = rng.integers(0, 2, n)
    mean1 = np.where(x[:, 0] > 0, 1.0, 0.2) if signal else np.full(n, 0.5)
    mean = np.where(a == 1, mean1, 0.5)
    r = mean + rng.normal(scale=0.5, size=n)
    return LoggedData(x, a, r, np.full(n, 0.5)), mean1


def test_estimators_recover_a_known_policy_value():
    data, mean1 = world(20000, 1)
    target = ope.one_hot((data.x[:, 0] > 0).astype(int), 2)  # the oracle: true value mean(max(...))
    truth = np.where(data.x[:, 0] > 0, 1.0, 0.5).mean()
    q = np.stack([np.full(len(data), 0.5), mean1], axis=1)  # a perfect reward model
    out = ope.evaluate(data.rewards, data.actions, data.propensities, target, q, bootstrap=100)
    for name in ("ips", "snips", "dr"):
        assert out[name].low < truth < out[name].high, name
    assert out["dr"].high - out["dr"].low < out["ips"].high - out["ips"].low
    diff = ope.compare("dr", data.rewards, data.actions, data.propensities, target, ope.fixed(len(data), 2, 0), q)
    assert diff.low > 0.2


def test_bad_propensities_are_refused():
    with pytest.raises(ValueError):
        ope.estimate("ips", [1.0], [0], [0.0], [[1.0, 0.0]])


def test_exploration_keeps_every_arm_possible():
    assert epsilon_greedy(2, 4, 0.2).tolist() == pytest.approx([0.05, 0.05, 0.85, 0.05])
    floored = with_floor([1.0, 0.0, 0.0], 0.05)
    assert floored.min() == pytest.approx(0.05) and floored.sum() == pytest.approx(1.0)


def test_q_network_targets_where_it_pays_and_selection_keeps_it():
    train, _ = world(4000, 2)
    sel, _ = world(2000, 3)
    q = fit_q_network(train, 2, epochs=10, seed=0)
    pred = q.predict(sel.x)
    pg = fit_policy_gradient(train, 2, q.predict(train.x), epochs=10, seed=0)
    selection = select_policy(sel, 2, pred, pred, pg.probabilities(sel.x), bootstrap=100)
    assert selection.chosen.kind in ("qnet", "pg"), selection.reason
    policy = CampaignPolicy(policy_payload(["none", "ten"], selection.chosen, selection.base_arm, q, pg))
    choice = policy.scores_matrix(sel.x).argmax(axis=1)
    assert ((choice == 1) == (sel.x[:, 0] > 0)).mean() > 0.85
    assert policy.arm_scores(sel.x[0], ["ten", "none"]) is not None
    assert policy.arm_scores(sel.x[0], ["ten", "other"]) is None  # the campaign's arms changed


def test_without_signal_the_selection_falls_back_to_the_best_fixed_arm():
    train, _ = world(4000, 4, signal=False)
    sel, _ = world(2000, 5, signal=False)
    q = fit_q_network(train, 2, epochs=10, seed=0)
    pred = q.predict(sel.x)
    selection = select_policy(sel, 2, pred, pred, None, bootstrap=100)
    assert selection.chosen.kind == "fixed" and "falling back" in selection.reason


def test_multi_step_targets_train():
    data, _ = world(2000, 6)
    nxt = np.arange(1, len(data) + 1)
    nxt[1::2] = -1  # every other decision is followed by the customer's next one
    nxt[-1] = -1
    data.next_index = nxt
    model = fit_q_network(data, 2, epochs=3, gamma=0.5, seed=0)
    assert model.predict(data.x[:5]).shape == (5, 2)
    half = data.subset(np.arange(0, 100))
    assert half.next_index.max() < 100


def test_simulated_world_has_segment_specific_best_arms():
    from ecom_ai.marketing.simulation import expected_net_value, simulated_customers

    rng = random.Random(1)
    best = {
        max(("none", "ten", "ship"), key=lambda arm: expected_net_value(s, arm)) for s in simulated_customers(500, rng)
    }
    assert best == {"none", "ten", "ship"}


def test_qini_curve_of_a_perfect_ranking_beats_random():
    from ecom_ai.marketing.report import qini_curve

    rng = np.random.default_rng(0)
    n = 4000
    responsive = rng.random(n) < 0.3  # only they respond to the offer
    treated = rng.random(n) < 0.5
    outcome = (treated & responsive).astype(float)
    curve = qini_curve(responsive.astype(float), treated, outcome)
    at30 = dict(curve)[30.0]
    assert curve[0] == (0.0, 0.0) and at30 > 0.12 and abs(curve[-1][1] - 0.15) < 0.03  # half are treated
    shuffled = dict(qini_curve(rng.random(n), treated, outcome))[30.0]
    assert shuffled < at30 / 2


def test_best_fixed_arm_by_engagement_resists_a_few_huge_orders():
    from ecom_ai.marketing.learners import best_fixed_arm

    rng = np.random.default_rng(3)
    n = 6000
    a = rng.integers(0, 2, n)
    engaged = rng.random(n) < np.where(a == 1, 0.2, 0.1)  # arm 1 doubles engagement
    value = np.where(engaged, 50.0, 0.0)
    value[np.flatnonzero(engaged & (a == 0))[:3]] = 20000.0  # three outliers under arm 0
    data = LoggedData(rng.normal(size=(n, 2)), a, value, np.full(n, 0.5))
    assert best_fixed_arm(data, 2) == 0  # the mean reward is fooled
    assert best_fixed_arm(data, 2, engaged=engaged, value=value) == 1
