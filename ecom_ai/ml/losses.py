"""Fast full-softmax cross-entropy over a large output vocabulary (items).

``softmax_cross_entropy(hidden, vectors, targets)`` equals
``F.cross_entropy(hidden @ vectors.T, targets)`` (optionally weighted per row), but it is
computed in row chunks, in one pass: each chunk's logits are turned in place into the
gradient ``softmax - one_hot`` while they are still in cache, and both gradient products
are taken right away. Nothing of size ``rows × vocabulary`` is kept for the backward pass,
and no separate log-softmax / its backward runs over memory, which makes the loss faster
than ``F.cross_entropy`` in float32.

``precision="bf16"`` runs the three matrix products in bfloat16 (float32 accumulation,
float32 softmax): faster again where the CPU has native bf16 dot products (AVX512-BF16,
AMX) or on a recent GPU, at a small relative gradient error. The measured times and
errors are in docs/benchmarks.md (Recommendations, "Speed work"). ``"auto"`` picks bf16 only
when a quick probe shows it is actually faster on this device (it is emulated, and slower,
on CPUs without native support).
"""

from __future__ import annotations

import functools
import time

import torch

PRECISIONS = ("auto", "fp32", "bf16")


class _SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, vectors, targets, weights, chunk, dtype):
        rows = hidden.shape[0]
        grad_hidden = torch.empty_like(hidden)
        grad_vectors = torch.zeros_like(vectors)
        total = hidden.new_zeros((), dtype=torch.float32)
        low = dtype != hidden.dtype
        h_all = hidden.to(dtype) if low else hidden
        v_all = vectors.to(dtype) if low else vectors
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            h = h_all[start:stop]
            tgt = targets[start:stop]
            logits = (h @ v_all.T).float()
            target_logits = logits.gather(1, tgt.unsqueeze(1)).squeeze(1)
            # logits -> softmax - one_hot, scaled by the row weights, in place (one exp pass)
            top = logits.amax(1, keepdim=True)
            logits.sub_(top).exp_()
            sums = logits.sum(1, keepdim=True)
            losses = sums.log().squeeze(1) + top.squeeze(1) - target_logits
            scale = sums.reciprocal_()
            if weights is None:
                total += losses.sum()
                logits.mul_(scale)
                logits[torch.arange(stop - start, device=logits.device), tgt] -= 1.0
            else:
                w = weights[start:stop]
                total += (losses * w).sum()
                logits.mul_(scale.mul_(w.unsqueeze(1)))
                logits[torch.arange(stop - start, device=logits.device), tgt] -= w
            grad = logits.to(dtype) if low else logits
            grad_hidden[start:stop] = (grad @ v_all).to(hidden.dtype)
            if low:
                grad_vectors += (grad.T @ h).to(vectors.dtype)
            else:
                grad_vectors.addmm_(grad.T, h)
        ctx.save_for_backward(grad_hidden, grad_vectors)
        ctx.scale = 1.0 / rows if weights is None else 1.0
        return total * ctx.scale

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_vectors = ctx.saved_tensors
        factor = grad_output * ctx.scale
        return grad_hidden * factor, grad_vectors * factor, None, None, None, None


def softmax_cross_entropy(
    hidden: torch.Tensor,
    vectors: torch.Tensor,
    targets: torch.Tensor,
    *,
    weights: torch.Tensor | None = None,
    chunk: int = 1024,
    precision: str = "fp32",
) -> torch.Tensor:
    """Mean cross-entropy of ``hidden @ vectors.T`` against ``targets`` (class indices).

    ``weights`` (one per row): the weighted mean ``sum(w·loss) / sum(w)`` instead.
    ``precision``: ``"fp32"``, ``"bf16"`` or ``"auto"`` (see the module docstring).
    Differentiable in ``hidden`` and ``vectors`` (the gradient is computed in the forward
    pass, so call it only where the loss will be back-propagated, i.e. in training).
    """
    if hidden.dim() != 2 or vectors.dim() != 2 or hidden.shape[1] != vectors.shape[1]:
        raise ValueError(f"hidden {tuple(hidden.shape)} and vectors {tuple(vectors.shape)} do not match.")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}.")
    if precision == "auto":
        precision = "bf16" if bf16_is_faster(hidden.device) else "fp32"
    dtype = torch.bfloat16 if precision == "bf16" else hidden.dtype
    if weights is not None:
        weights = (weights / weights.sum().clamp_min(1e-12)).to(torch.float32)
    return _SoftmaxCrossEntropy.apply(hidden, vectors, targets, weights, max(1, int(chunk)), dtype)


@functools.lru_cache(maxsize=8)
def bf16_is_faster(device: torch.device | str = "cpu") -> bool:
    """Whether a bf16 matrix product beats float32 here by a clear margin (probed once)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        gen = torch.Generator().manual_seed(0)  # leaves the global RNG (training's seed) alone
        a = torch.randn(1024, 64, generator=gen)
        b = torch.randn(2048, 64, generator=gen)
        timings = []
        for dtype in (torch.float32, torch.bfloat16):
            x, y = a.to(dtype), b.to(dtype)
            x @ y.T  # warm-up
            best = float("inf")
            for _ in range(7):  # the fastest of a few: robust to a busy machine
                started = time.perf_counter()
                x @ y.T
                best = min(best, time.perf_counter() - started)
            timings.append(best)
    except RuntimeError:  # no bf16 kernels in this build
        return False
    return timings[1] < 0.75 * timings[0]
