"""Repeat-aware scoring (ecom_ai.recommend.repeats): the prior, the fusion, the weight's choice, serving."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from django.test import override_settings

from ecom_ai.recommend import ann
from ecom_ai.recommend.repeats import (
    RepeatPrior,
    choose_weight,
    fuse,
    fused_scorer,
    rank_counts,
    recent_distinct,
)
from ecom_ai.recommend.sasrec import ItemFeatures, SequentialRecommender, build_model, merged_params, to_payload


def test_recent_distinct_items_most_recent_first():
    assert recent_distinct([3, 1, 2, 1, 4], max_rank=3) == [4, 1, 2]
    assert recent_distinct([]) == []


def test_the_prior_counts_the_recency_rank_of_every_next_item():
    # a b a b ...: every next item (after the second) is the second most recent distinct one
    counts, transitions = rank_counts([[1, 2, 1, 2, 1, 2], [5, 6, 7]], max_rank=4)
    assert transitions == 5 + 2 and counts.tolist() == [0, 4, 0, 0]
    prior = RepeatPrior.estimate([[1, 2, 1, 2, 1, 2], [5, 6, 7]], max_rank=4)
    assert prior.probs[1] == pytest.approx(4 / 7) and prior.probs[0] == 0  # from the data: no "latest" repeats
    assert prior.repeat_share == pytest.approx(4 / 7)
    items, q = prior.recent([9, 1, 2])
    assert items == [1] and q.tolist() == [1.0]  # only ranks that ever repeat get a share


def test_fusion_only_moves_the_shoppers_recent_items_up():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 21, generator=gen)
    prior = RepeatPrior(probs=np.array([0.0, 0.3, 0.1]), weight=0.5)
    histories = [[4, 7, 9], [2]]
    fused = fuse(scores.clone(), histories, prior)
    plain = torch.log_softmax(torch.cat([torch.full((2, 1), float("-inf")), scores[:, 1:]], 1), 1)
    assert torch.allclose(fuse(scores.clone(), histories, prior, weight=0.0), plain)
    others = [i for i in range(1, 21) if i not in (4, 7)]
    # every other item keeps its order (a constant shift), the recent items 7 (rank 1) and 4 (rank 2) rise
    assert torch.allclose(fused[0, others] - plain[0, others], torch.full((len(others),), float(np.log(0.5))))
    assert fused[0, 7] > plain[0, 7] and fused[0, 4] > plain[0, 4] and fused[0, 9] < plain[0, 9]
    assert torch.isneginf(fused[:, 0]).all()
    assert torch.allclose(fused[1, 1:] - plain[1, 1:], torch.full((20,), float(np.log(0.5))))  # no rank 1 or 2
    probabilities = fused[0].exp()
    assert float(probabilities.sum()) == pytest.approx(1.0, abs=1e-5)  # a mixture of two distributions


def make_histories(n_users=200, n_items=50, seed=0):
    """Shoppers who come back to their second most recent item half the time."""
    rng = np.random.default_rng(seed)
    histories, targets = [], []
    for _ in range(n_users):
        seq = [int(rng.integers(1, n_items + 1))]
        for _ in range(int(rng.integers(6, 12))):
            if len(set(seq)) > 1 and rng.random() < 0.5:
                seq.append(recent_distinct(seq)[1])
            else:
                seq.append(int(rng.integers(1, n_items + 1)))
        histories.append(np.array(seq[:-1]))
        targets.append(seq[-1])
    return histories, np.array(targets)


def test_the_weight_is_chosen_on_validation_and_is_zero_when_mixing_does_not_help():
    histories, targets = make_histories()
    n_items = 50
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(len(targets), n_items + 1, generator=gen)
    prior = RepeatPrior.estimate([np.append(h, t) for h, t in zip(histories, targets)])
    assert prior.probs[1] > 0.3

    def score(idx):
        return noise[torch.as_tensor(idx)]

    chosen = choose_weight(prior, score, targets, histories, n_items, memory_mb=0.01)
    assert chosen.weight > 0 and chosen.active
    assert chosen.validation["0"] < max(chosen.validation.values())
    # what choose_weight reported is what scoring with the chosen weight gives
    from ecom_ai.recommend.evaluation import ranking_metrics

    metrics = ranking_metrics(fused_scorer(score, histories, chosen), targets, histories, n_items, negatives=0)
    key = f"{chosen.weight:g}{' per shopper' if chosen.per_shopper else ''}"
    assert metrics["ndcg@10"] == pytest.approx(chosen.validation[key], abs=1e-4)

    # targets never in the history, and a model that knows them: the prior only hurts, weight 0
    fresh = np.array([n_items - (u % 5) for u in range(len(targets))])
    oracle = torch.zeros(len(targets), n_items + 1)
    oracle[torch.arange(len(targets)), torch.from_numpy(fresh)] = 10.0
    histories_low = [h % (n_items - 5) + 1 for h in histories]
    off = choose_weight(prior, lambda idx: oracle[torch.as_tensor(idx)], fresh, histories_low, n_items)
    assert off.weight == 0 and not off.active


def test_the_weight_can_follow_the_shoppers_own_repeat_share():
    prior = RepeatPrior(probs=np.array([0.0, 0.2]), weight=0.4, per_shopper=True)
    repeater = [1, 2] * 20  # always back to the second most recent item
    explorer = list(range(1, 41))
    assert prior.shopper_weight(repeater) > 0.4 > prior.shopper_weight(explorer)
    assert prior.shopper_weight([1, 2]) == pytest.approx(0.4, rel=0.2)  # a short history: near the overall weight
    assert RepeatPrior(probs=prior.probs, weight=0.4).shopper_weight(repeater) == 0.4
    assert RepeatPrior.from_dict(prior.as_dict()).shopper_weight(repeater) == prior.shopper_weight(repeater)


def servable(n_items, repeat=None, min_ann=None):
    torch.manual_seed(0)
    params = merged_params({"hidden": 16, "blocks": 1, "maxlen": 8})
    model = build_model(n_items, 1, 1, ItemFeatures(), params)
    keys = [f"sku-{i}" for i in range(1, n_items + 1)]
    payload = to_payload(
        model,
        item_keys=keys,
        event_types=["view"],
        channels=["web"],
        categories=[],
        params=params,
        extra={"repeat": repeat.as_dict() if repeat else None},
    )
    return SequentialRecommender(payload)


def test_serving_fuses_the_same_way_as_the_evaluation():
    prior = RepeatPrior(probs=np.array([0.0, 0.5, 0.2]), weight=0.9)
    rec = servable(30, prior)
    assert rec.repeat is not None and rec.repeat.active
    history = [("sku-3", "view", "web"), ("sku-8", "view", "web"), ("sku-5", "view", "web")]
    top = rec.recommend(history, 5)
    assert top[0][0] == "sku-8"  # the second most recent item: half of the next events
    assert "sku-5" != top[1][0] and [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    # the scores are the fused log-probabilities of the evaluation
    codes = [3, 8, 5]
    query_scores = None
    with torch.no_grad():
        tokens = torch.tensor([codes, [1, 1, 1], [1, 1, 1]]).unsqueeze(1)
        positions = torch.arange(8 - 3 + 1, 8 + 1).unsqueeze(0)
        hidden = rec.model.encode(tokens[0], tokens[1], tokens[2], positions, rec.vectors)
        query_scores = (rec.vectors @ hidden[0, -1]).unsqueeze(0)
    fused = fuse(query_scores, [codes], prior)[0]
    assert top[0][1] == pytest.approx(float(fused[8]), abs=1e-5)
    assert "sku-8" not in dict(rec.recommend(history, 5, exclude={"sku-8"}))
    # no prior, or weight 0: the model's own scores, as before
    assert servable(30).repeat is None
    plain = servable(30, RepeatPrior(probs=prior.probs, weight=0.0)).recommend(history, 5)
    assert plain == servable(30).recommend(history, 5)


@pytest.mark.skipif(not ann.available(), reason="faiss is not installed (pip install ecom-ai[ann])")
def test_serving_through_the_index_fuses_too():
    prior = RepeatPrior(probs=np.array([0.0, 0.5, 0.2]), weight=0.9)
    history = [("sku-3", "view", "web"), ("sku-8", "view", "web"), ("sku-5", "view", "web")]
    with override_settings(ECOM_AI={"RECOMMEND_ANN_MIN_ITEMS": 1000}):
        rec = servable(3000, prior)
        assert rec.ann_index is not None
        top = rec.recommend(history, 10, exclude={"sku-3"})
    assert top[0][0] == "sku-8" and len(top) == 10 and "sku-3" not in dict(top)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
