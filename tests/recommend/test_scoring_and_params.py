"""Memory-bounded scoring, the approximate index, derived parameters, loud parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecom_ai.recommend import ann
from ecom_ai.recommend.evaluation import ranking_metrics
from ecom_ai.recommend.params import (
    DataShape,
    UnknownParameter,
    check_param_names,
    derive_params,
    exclude_seen_default,
    loss_choice,
)
from ecom_ai.recommend.scoring import chunk_shape, target_ranks, top_k


def dense_top(queries, items, k, exclude):
    scores = queries @ items.T
    scores[:, 0] = float("-inf")
    for r, excluded in enumerate(exclude):
        scores[r, list(excluded)] = float("-inf")
    return torch.topk(scores, k, dim=1)


@pytest.mark.parametrize("memory_mb", [0.01, 0.5, 64])  # tiny budgets: chunks of users and of items
def test_chunked_top_k_equals_the_dense_one_with_exclusions(memory_mb):
    gen = torch.Generator().manual_seed(0)
    queries, items = torch.randn(37, 8, generator=gen), torch.randn(3001, 8, generator=gen)
    exclude = [np.arange(1, 1 + u % 5) * 97 for u in range(37)]
    values, indices = top_k(queries, items, 10, exclude=exclude, memory_mb=memory_mb)
    expected_v, expected_i = dense_top(queries, items, 10, exclude)
    assert torch.equal(indices, expected_i) and torch.allclose(values, expected_v)
    assert not any(set(indices[u].tolist()) & set(exclude[u].tolist()) for u in range(37))


def test_chunks_follow_the_memory_budget():
    rows, cols = chunk_shape(50_000, 60_001, memory_mb=256)
    assert rows * cols * 4 * 4 <= 256 * 1024 * 1024 and cols == 60_001 and rows > 100
    rows, cols = chunk_shape(10, 100_000_000, memory_mb=16)
    assert rows == 1 and cols < 100_000_000  # one row does not fit: items are chunked too


def test_target_ranks_and_ranking_metrics_agree_with_a_dense_ranking():
    gen = torch.Generator().manual_seed(1)
    queries, items = torch.randn(50, 4, generator=gen), torch.randn(201, 4, generator=gen)
    targets = np.arange(50) * 3 + 1
    seen = [np.array([t + 1, t + 2]) for t in targets]
    ranks = target_ranks(
        lambda idx: queries[torch.as_tensor(idx)] @ items.T, targets, 201, exclude=seen, memory_mb=0.01
    )
    dense = queries @ items.T
    dense[:, 0] = float("-inf")
    for u, t in enumerate(targets):
        row = dense[u].clone()
        row[seen[u]] = float("-inf")
        assert ranks[u] == int((row > row[t]).sum())
    small = ranking_metrics(
        lambda idx: queries[torch.as_tensor(idx)] @ items.T,
        targets,
        seen,
        200,
        exclude_seen=True,
        negatives=0,
        memory_mb=0.01,
    )
    large = ranking_metrics(
        lambda idx: queries[torch.as_tensor(idx)] @ items.T,
        targets,
        seen,
        200,
        exclude_seen=True,
        negatives=0,
        chunk=512,
    )
    assert small == large


def test_parameters_follow_the_shape_of_the_data_not_its_name():
    short = DataShape(
        users=31_000, items=24_000, events=250_000, median_length=6, p90_length=17, max_length=300, repeat_rate=0.0
    )
    long = DataShape(
        users=6_040, items=3_416, events=999_611, median_length=96, p90_length=400, max_length=2_300, repeat_rate=0.0
    )
    s, lg = derive_params(short), derive_params(long)
    assert s["batch_tokens"] == 2048 and s["maxlen"] == 20 and s["epochs"] > 100 and s["dropout"] == 0.3
    assert lg["batch_tokens"] == 4096 and lg["maxlen"] == 200 and lg["long_windows"] and lg["hidden"] == 128
    steps_short = (short.events - short.users) / s["batch_tokens"]
    assert steps_short > 100  # enough optimizer steps per epoch (the old 12,800 tokens gave ~20)


def test_seen_items_and_loss_choices_are_explained():
    never = DataShape(10, 10, 50, 5, 5, 5, repeat_rate=0.0)
    often = DataShape(10, 10, 50, 5, 5, 5, repeat_rate=0.2)
    assert exclude_seen_default(never)[0] is True and "excluded" in exclude_seen_default(never)[1]
    assert exclude_seen_default(often)[0] is False and "kept" in exclude_seen_default(often)[1]
    assert loss_choice({"loss": "auto"}, 60_000)[0] == "sampled"
    assert "60,000 items are more than sampled_above=50,000" in loss_choice({"loss": "auto"}, 60_000)[1]
    assert loss_choice({"loss": "auto"}, 100) == (
        "full",
        "full softmax: the catalogue's 100 items are at most sampled_above=50,000",
    )


def test_an_unknown_parameter_names_the_closest_ones():
    with pytest.raises(
        UnknownParameter,
        match=r"Unknown recommender parameter 'batch_token'\. Did you mean "
        r"'batch_tokens'\?",
    ):
        check_param_names({"batch_token": 1}, ["batch_tokens", "maxlen"], "recommender parameter")
    check_param_names({"maxlen": 3}, ["batch_tokens", "maxlen"])


@pytest.mark.skipif(not ann.available(), reason="faiss is not installed (pip install ecom-ai[ann])")
def test_the_item_index_finds_the_exact_top_k_on_clustered_vectors():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 16)).astype(np.float32)
    vectors = np.zeros((5001, 16), dtype=np.float32)
    vectors[1:] = centres[rng.integers(0, 50, 5000)] + 0.3 * rng.normal(size=(5000, 16)).astype(np.float32)
    index = ann.ItemIndex.from_bytes(ann.ItemIndex.build(vectors).to_bytes(), 16)  # survives storage
    queries = rng.normal(size=(20, 16)).astype(np.float32)
    ids, _ = index.search(queries, 10)
    _, exact = top_k(torch.from_numpy(queries), torch.from_numpy(vectors), 10)
    recall = np.mean([len(set(ids[q]) & set(exact[q].tolist())) / 10 for q in range(20)])
    assert recall >= 0.9 and (ids > 0).all()
