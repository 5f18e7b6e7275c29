"""Training in two processes (torch.distributed, gloo on the CPU) and serving through the item index."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from django.test import override_settings

from ecom_ai.recommend import ann
from ecom_ai.recommend.data import leave_last_out
from ecom_ai.recommend.fitting import HoldoutEvaluator, fit, resolve_params, trained_mask
from ecom_ai.recommend.sasrec import ItemFeatures, SequenceData, SequentialRecommender, build_model, to_payload

N = 30


def walks(n_seqs=300, length=8, seed=0):
    """Shoppers walk a cycle of N items, one or two steps at a time (the next item is nearly determined)."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n_seqs):
        pos, seq = int(rng.integers(0, N)), []
        for _ in range(length):
            seq.append(pos % N + 1)
            pos += 1 if rng.random() < 0.8 else 2
        items.append(np.array(seq, dtype=np.int64))
    ones = [np.ones(length, dtype=np.int64) for _ in items]
    return SequenceData(items, ones, list(ones))


def train(nproc):
    data = walks()
    resolved = resolve_params(
        data,
        N,
        {
            "hidden": 32,
            "blocks": 1,
            "epochs": 30,
            "eval_every": 10,
            "patience": 10,
            "lr": 5e-3,
            "batch_tokens": 512,
            "nproc": nproc,
            "threads": 1,
            "dropout": 0.1,
        },
    )
    holdout = leave_last_out(data, min_length=3, max_cases=100, seed=1)
    torch.manual_seed(0)
    model = build_model(N, 1, 1, ItemFeatures(), resolved.params)
    evaluate = HoldoutEvaluator(holdout.inputs, holdout.targets, N)
    report = fit(model, holdout.train, resolved.params, evaluate=evaluate, trained_items=trained_mask(holdout.train, N))
    return evaluate(model), report, model, resolved.params


@pytest.mark.slow
def test_two_processes_learn_as_well_as_one():
    single, single_report, _, _ = train(1)
    double, double_report, model, params = train(2)
    assert single_report.world_size == 1 and double_report.world_size == 2
    assert double_report.steps == single_report.steps  # the same global batch: as many optimizer steps
    assert single["ndcg@10"] > 0.4
    assert abs(double["ndcg@10"] - single["ndcg@10"]) < 0.1  # within noise
    rec = SequentialRecommender(
        to_payload(
            model,
            item_keys=[f"sku-{i}" for i in range(1, N + 1)],
            event_types=["view"],
            channels=["web"],
            categories=[],
            params=params,
        )
    )
    assert rec.recommend([("sku-4", "view", "web"), ("sku-5", "view", "web")], 1)[0][0] == "sku-6"


@pytest.mark.skipif(not ann.available(), reason="faiss is not installed (pip install ecom-ai[ann])")
def test_a_large_catalogue_serves_through_the_index_stored_with_the_model():
    torch.manual_seed(0)
    params = {"hidden": 16, "blocks": 1, "maxlen": 5}
    n = 3000
    model = build_model(n, 1, 1, ItemFeatures(), {**resolve_params(walks(20), n, params).params})
    keys = [f"sku-{i}" for i in range(1, n + 1)]
    with override_settings(ECOM_AI={"RECOMMEND_ANN_MIN_ITEMS": 1000}):
        payload = to_payload(
            model, item_keys=keys, event_types=["view"], channels=["web"], categories=[], params=params
        )
        assert isinstance(payload["extra"]["ann_index"], torch.Tensor)  # built once, at training
        indexed = SequentialRecommender(payload)
        assert indexed.ann_index is not None
        history = [("sku-10", "view", "web"), ("sku-11", "view", "web")]
        approximate = indexed.recommend(history, 10, exclude={"sku-12"})
    with override_settings(ECOM_AI={"RECOMMEND_ANN_MIN_ITEMS": 10_000}):
        exact_rec = SequentialRecommender(payload)
        assert exact_rec.ann_index is None
        exact = exact_rec.recommend(history, 10, exclude={"sku-12"})
    assert len(approximate) == 10 and "sku-12" not in dict(approximate)
    assert len(set(dict(approximate)) & set(dict(exact))) >= 8
    assert [s for _, s in approximate] == sorted((s for _, s in approximate), reverse=True)
