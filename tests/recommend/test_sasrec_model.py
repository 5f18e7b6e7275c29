"""The sequential recommender on tiny synthetic data (no database): learning, cold start, interface."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ecom_ai.ml.text import HashingTextEncoder
from ecom_ai.recommend.evaluation import ranking_metrics
from ecom_ai.recommend.sasrec import (
    ItemFeatures,
    SequenceData,
    SequentialRecommender,
    build_model,
    fit_sasrec,
    merged_params,
    score_last,
    to_payload,
)

N = 12  # items 1..N follow each other in a cycle: after item i comes item i % N + 1
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
]
TINY = {
    "hidden": 32,
    "blocks": 1,
    "maxlen": 8,
    "dropout": 0.0,
    "lr": 5e-3,
    "epochs": 40,
    "batch_tokens": 2048,
    "eval_every": 100,
    "seed": 7,
    "anneal": False,
}


def cycle_sequences(n_seqs=120, length=7, seed=0, n=N):
    rng = np.random.default_rng(seed)
    items, events, channels = [], [], []
    for _ in range(n_seqs):
        start = int(rng.integers(0, n))
        seq = np.array([(start + j) % n + 1 for j in range(length)], dtype=np.int64)
        items.append(seq)
        events.append(np.ones(length, dtype=np.int64))
        channels.append(np.ones(length, dtype=np.int64))
    return SequenceData(items, events, channels)


def keys(n=N):
    return [f"sku-{i}" for i in range(1, n + 1)]


def text_features(texts, categories):
    encoder = HashingTextEncoder(dim=128)
    text = np.zeros((len(texts) + 1, 128), dtype=np.float32)
    text[1:] = encoder.encode(texts)
    names = sorted(set(categories))
    codes = np.array([0] + [names.index(c) + 1 for c in categories], dtype=np.int64)
    return ItemFeatures(text=text, category=codes, n_categories=len(names))


def servable(model, params, n_items=N, item_keys=None):
    payload = to_payload(
        model,
        item_keys=item_keys or keys(n_items),
        event_types=["view"],
        channels=["web"],
        categories=[],
        params=params,
    )
    return SequentialRecommender(payload)


pytestmark = pytest.mark.slow  # trains SASRec models: `make test-fast` skips them


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    params = merged_params(TINY)
    model = build_model(N, 1, 1, ItemFeatures(), params)
    report = fit_sasrec(model, cycle_sequences(), params, device="cpu")
    return model, params, report


def test_learns_an_obvious_sequential_pattern(trained):
    model, params, report = trained
    assert report.history[-1]["loss"] < report.history[0]["loss"] / 3
    rec = servable(model, params)
    for a in (1, 5, 12):
        history = [(f"sku-{(a - 2) % N + 1}", "view", "web"), (f"sku-{a}", "view", "web")]
        top = rec.recommend(history, 3)
        assert top[0][0] == f"sku-{a % N + 1}", (a, top)


def test_ranking_metrics_on_held_out_next_items(trained):
    model, params, _ = trained
    held = cycle_sequences(n_seqs=30, length=6, seed=1)
    inputs = SequenceData([s[:-1] for s in held.items], [e[:-1] for e in held.events], [c[:-1] for c in held.channels])
    targets = np.array([s[-1] for s in held.items])
    scores = score_last(model, inputs)
    metrics = ranking_metrics(lambda idx: scores[idx], targets, inputs.items, N, k=10, negatives=5)
    assert metrics["hr@10"] == 1.0 and metrics["ndcg@10"] > 0.95
    assert metrics["users"] == 30 and metrics["ndcg@10_sampled"] > 0.95
    # a scorer that knows nothing scores far lower
    flat = ranking_metrics(lambda idx: torch.zeros(len(idx), N + 1), targets, inputs.items, N, k=1, negatives=0)
    assert flat["hr@1"] == 0.0


def test_interface_contract(trained):
    model, params, _ = trained
    rec = servable(model, params)
    assert rec.item_keys == keys()
    history = [("sku-3", "view", "web"), ("unknown", "view", "web"), ("sku-4", "purchase", "pos")]
    top = rec.recommend(history, 5, exclude={"sku-5", "sku-6"})
    assert 0 < len(top) <= 5
    assert all(isinstance(key, str) and isinstance(score, float) for key, score in top)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert not {"sku-5", "sku-6"} & {key for key, _ in top}
    # unknown keys are ignored: the same list as without them
    assert rec.recommend(
        [("sku-3", "view", "web"), ("sku-4", "view", "web")], 5, exclude={"sku-5", "sku-6"}
    ) == rec.recommend(
        [("nope", "view", "web"), ("sku-3", "view", "web"), ("sku-4", "view", "web")], 5, exclude={"sku-5", "sku-6"}
    )
    assert rec.recommend([], 5) == []
    assert rec.recommend([("unknown", "view", "web")], 5) == []
    assert rec.recommend(history, 0) == []
    assert len(rec.recommend(history, 100)) == N  # k larger than the catalogue
    # view, then cart, then purchase of one item is one step (same list as the single view)
    assert rec.recommend([("sku-2", "view", "web")] * 3, 4) == rec.recommend([("sku-2", "view", "web")], 4)
    # a long history is cut to maxlen, not an error
    long = [(f"sku-{j % N + 1}", "view", "web") for j in range(100)]
    assert len(rec.recommend(long, 3)) == 3
    similar = rec.similar_items("sku-1", 4, exclude={"sku-2"})
    assert len(similar) == 4 and "sku-1" not in dict(similar) and "sku-2" not in dict(similar)
    assert all(-1.0001 <= s <= 1.0001 for _, s in similar)
    assert rec.similar_items("unknown", 4) == []
    assert rec.model.item_id.weight.device.type == "cpu"


def test_new_item_with_similar_text_is_recommended():
    """Item N+1 has no events at all; its text and category are those of item 2 (which follows item 1)."""
    torch.manual_seed(0)
    texts = [f"{WORDS[i]} {WORDS[i]}ware" for i in range(N)] + [f"{WORDS[1]} {WORDS[1]}ware new"]
    categories = [f"cat-{i}" for i in range(N)] + ["cat-1"]
    features = text_features(texts, categories)
    params = merged_params({**TINY, "id_dropout": 0.5, "epochs": 60})
    model = build_model(N + 1, 1, 1, features, params)
    trained_items = np.ones(N + 2, dtype=np.float32)
    trained_items[0] = trained_items[N + 1] = 0  # the new item never appears in training
    fit_sasrec(model, cycle_sequences(), params, device="cpu", trained_items=trained_items)
    rec = servable(model, params, n_items=N + 1)
    new_key = f"sku-{N + 1}"
    ranked = [
        key for key, _ in rec.recommend([("sku-12", "view", "web"), ("sku-1", "view", "web")], N + 1, exclude={"sku-2"})
    ]
    assert ranked.index(new_key) <= 1, ranked  # the new item stands in for item 2
    assert rec.similar_items(new_key, 1)[0][0] == "sku-2"


def test_sampled_softmax_learns_too():
    torch.manual_seed(0)
    params = merged_params({**TINY, "loss": "sampled", "negatives": 6})
    model = build_model(N, 1, 1, ItemFeatures(), params)
    fit_sasrec(model, cycle_sequences(), params, device="cpu")
    rec = servable(model, params)
    assert rec.recommend([("sku-7", "view", "web")], 1)[0][0] == "sku-8"


def test_early_stopping_restores_the_best_epoch():
    torch.manual_seed(0)
    params = merged_params({**TINY, "epochs": 30, "eval_every": 1, "patience": 2})
    model = build_model(N, 1, 1, ItemFeatures(), params)
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1] + [0.0] * 30)
    snapshots = {}

    def evaluate(m):
        snapshots[len(snapshots) + 1] = m.item_id.weight.detach().clone()
        return {"ndcg@10": next(scores)}

    report = fit_sasrec(model, cycle_sequences(), params, evaluate=evaluate, device="cpu")
    assert report.best_epoch == 2 and report.epochs == 4 and "early stop" in report.stopped
    assert torch.equal(model.item_id.weight, snapshots[2])


def test_cpu_budget_stops_training_within_a_step_and_plans_the_schedule():
    torch.manual_seed(0)
    params = merged_params({**TINY, "epochs": 100000, "eval_every": 3, "patience": 10**6, "cpu_budget": 1.0})
    model = build_model(N, 1, 1, ItemFeatures(), params)
    report = fit_sasrec(model, cycle_sequences(), params, evaluate=lambda m: {"ndcg@10": 0.5}, device="cpu")
    assert "CPU budget" in report.stopped and 1 <= report.epochs < 100000
    assert 1 <= report.planned_epochs < 100000  # the learning-rate schedule ran over what fits, not 100000 epochs
    assert report.cpu_seconds < 2.0
    assert "ndcg@10" in report.history[-1]  # evaluated when the budget ends
    assert "ndcg@10" in report.history[0]  # and after the first epoch, whose cost plans the schedule


def test_a_cpu_budget_plans_for_its_evaluations():
    """Evaluations are paid from the budget: the plan leaves room for them, so the schedule ends
    (its learning rate down to 5%) before the budget would cut it short."""

    def slow_evaluate(model):
        started = time.process_time()
        while time.process_time() - started < 0.2:  # an evaluation far dearer than a tiny epoch
            pass
        return {"ndcg@10": 0.5}

    torch.manual_seed(0)
    params = merged_params({**TINY, "epochs": 100000, "eval_every": 2, "patience": 10**6, "cpu_budget": 3.0})
    model = build_model(N, 1, 1, ItemFeatures(), params)
    report = fit_sasrec(model, cycle_sequences(), params, evaluate=slow_evaluate, device="cpu")
    assert "whole epochs planned" in report.stopped  # not "reached in epoch ..."
    assert report.planned_epochs == report.epochs < 100000
    assert report.cpu_seconds <= 3.0


def test_the_same_seed_and_epochs_give_the_same_model():
    def train():
        torch.manual_seed(3)
        params = merged_params({**TINY, "epochs": 3, "threads": 1})
        model = build_model(N, 1, 1, ItemFeatures(), params)
        report = fit_sasrec(model, cycle_sequences(), params, device="cpu")
        return model, report

    (first, report), (second, _) = train(), train()
    assert report.loss == "full" and "at most sampled_above" in report.loss_reason
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_long_sequences_split_into_windows_that_cover_every_target():
    from ecom_ai.recommend.sasrec import split_long

    seqs = SequenceData(
        [np.arange(1, 12), np.arange(1, 4)],
        [np.arange(1, 12) % 3 + 1, np.ones(3, dtype=np.int64)],
        [np.ones(11, dtype=np.int64), np.ones(3, dtype=np.int64)],
    )
    windows = split_long(seqs, maxlen=4)
    assert [w.tolist() for w in windows.items] == [[7, 8, 9, 10, 11], [3, 4, 5, 6, 7], [1, 2, 3], [1, 2, 3]]
    assert windows.events[0].tolist() == (np.arange(7, 12) % 3 + 1).tolist()  # events travel with their items
    targets = sorted(t for w in windows.items[:3] for t in w[1:].tolist())
    assert targets == list(range(2, 12))  # every event but the first is a target exactly once


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_long_windows_and_both_precisions_learn(precision):
    torch.manual_seed(0)
    params = merged_params({**TINY, "maxlen": 4, "long_windows": True, "precision": precision})
    model = build_model(N, 1, 1, ItemFeatures(), params)
    report = fit_sasrec(model, cycle_sequences(length=15), params, device="cpu")
    assert report.history[-1]["loss"] < report.history[0]["loss"]
    rec = servable(model, params)
    assert rec.recommend([("sku-3", "view", "web"), ("sku-4", "view", "web")], 1)[0][0] == "sku-5"


def test_weight_average_is_evaluated_beside_the_trained_weights_and_the_better_kept():
    torch.manual_seed(0)
    params = merged_params({**TINY, "eval_every": 10, "patience": 10, "ema": 0.9})
    model = build_model(N, 1, 1, ItemFeatures(), params)
    data = cycle_sequences()
    held = cycle_sequences(n_seqs=40, seed=5)
    inputs = SequenceData([s[:-1] for s in held.items], [e[:-1] for e in held.events], [c[:-1] for c in held.channels])
    targets = np.array([s[-1] for s in held.items])

    def evaluate(m):
        scores = score_last(m, inputs)
        return ranking_metrics(
            lambda idx: scores[idx], targets, list(inputs.items), N, k=10, exclude_seen=False, negatives=0
        )

    report = fit_sasrec(model, data, params, evaluate=evaluate, device="cpu")
    evaluated = [row for row in report.history if "ndcg@10" in row]
    assert [row["epoch"] for row in evaluated] == [10, 20, 30, 40]
    assert all("averaged_ndcg@10" in row for row in evaluated)  # both sets of weights scored at every evaluation
    assert report.best_weights in ("trained", "averaged")
    assert report.history[-1]["loss"] < report.history[0]["loss"]
    assert evaluate(model)["ndcg@10"] == pytest.approx(report.best_metric)  # the kept weights are the best scored
    rec = servable(model, params)
    assert rec.recommend([("sku-3", "view", "web"), ("sku-4", "view", "web")], 1)[0][0] == "sku-5"


@pytest.mark.parametrize("decay", [1.0, 1.5, -0.1])
def test_a_weight_average_decay_outside_zero_to_one_is_refused(decay):
    params = merged_params({**TINY, "epochs": 1, "ema": decay})
    model = build_model(N, 1, 1, ItemFeatures(), params)
    with pytest.raises(ValueError, match="ema must be more than 0 and less than 1"):
        fit_sasrec(model, cycle_sequences(n_seqs=10), params, device="cpu")
