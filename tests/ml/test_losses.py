"""The chunked full-softmax cross-entropy gives the loss and gradients of F.cross_entropy."""

import pytest
import torch
import torch.nn.functional as F

from ecom_ai.ml.losses import bf16_is_faster, softmax_cross_entropy


def _problem(rows=300, dim=16, vocab=97, seed=0):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(rows, dim, generator=gen, requires_grad=True)
    vectors = (torch.randn(vocab, dim, generator=gen) * 0.3).requires_grad_()
    targets = torch.randint(0, vocab, (rows,), generator=gen)
    return hidden, vectors, targets


def _reference(hidden, vectors, targets, weights=None):
    losses = F.cross_entropy(hidden @ vectors.T, targets, reduction="none")
    loss = losses.mean() if weights is None else (losses * weights).sum() / weights.sum()
    return torch.autograd.grad(loss, (hidden, vectors)), loss


def _assert_matches_reference(hidden, vectors, targets, *, weights=None, chunk):
    """fp32 loss and gradients equal F.cross_entropy's (weighted mean when ``weights``)."""
    (ref_h, ref_v), ref_loss = _reference(hidden, vectors, targets, weights)
    loss = softmax_cross_entropy(hidden, vectors, targets, weights=weights, chunk=chunk, precision="fp32")
    grad_h, grad_v = torch.autograd.grad(loss, (hidden, vectors))
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    torch.testing.assert_close(grad_h, ref_h, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grad_v, ref_v, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 64, 299, 300, 1024])
def test_matches_cross_entropy_in_fp32(chunk):
    hidden, vectors, targets = _problem()
    _assert_matches_reference(hidden, vectors, targets, chunk=chunk)


def test_row_weights_give_the_weighted_mean():
    hidden, vectors, targets = _problem(seed=1)
    weights = torch.rand(len(targets), generator=torch.Generator().manual_seed(2)) * 3
    _assert_matches_reference(hidden, vectors, targets, weights=weights, chunk=50)


def test_upstream_gradient_scales_and_flows_through_a_graph():
    hidden, vectors, targets = _problem(seed=3)
    scale = torch.tensor(2.5, requires_grad=True)
    (ref_h, _), ref_loss = _reference(hidden * 1.0, vectors * scale.detach(), targets)
    loss = softmax_cross_entropy(hidden, vectors * scale, targets, precision="fp32") * 3.0
    loss.backward()
    (ref_h2, _), _ = _reference(hidden, vectors * scale.detach(), targets)
    torch.testing.assert_close(hidden.grad, ref_h2 * 3.0, rtol=1e-4, atol=1e-6)
    assert scale.grad is not None and torch.isfinite(scale.grad)
    assert loss.item() == pytest.approx(3.0 * ref_loss.item(), rel=1e-5)


def test_bf16_is_close_and_auto_picks_a_precision():
    hidden, vectors, targets = _problem(rows=400, dim=32, vocab=500, seed=4)
    (ref_h, ref_v), ref_loss = _reference(hidden, vectors, targets)
    loss = softmax_cross_entropy(hidden, vectors, targets, precision="bf16")
    grad_h, grad_v = torch.autograd.grad(loss, (hidden, vectors))
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-2)
    assert (grad_h - ref_h).norm() / ref_h.norm() < 2e-2
    assert (grad_v - ref_v).norm() / ref_v.norm() < 2e-2
    assert isinstance(bf16_is_faster("cpu"), bool)
    auto = softmax_cross_entropy(hidden, vectors, targets, precision="auto")
    assert auto.item() == pytest.approx(ref_loss.item(), rel=1e-2)


def test_bad_arguments_are_refused_clearly():
    hidden, vectors, targets = _problem()
    with pytest.raises(ValueError, match="precision"):
        softmax_cross_entropy(hidden, vectors, targets, precision="fp8")
    with pytest.raises(ValueError, match="do not match"):
        softmax_cross_entropy(hidden, vectors[:, :3], targets)


def test_the_precision_probe_leaves_the_global_random_state_alone():
    bf16_is_faster.cache_clear()
    state = torch.get_rng_state()
    bf16_is_faster("cpu")
    assert torch.equal(torch.get_rng_state(), state)
