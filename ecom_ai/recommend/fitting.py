"""The recommender's training, shared by the product's trainer and the benchmark.

``RecommenderTrainer`` (``ecom_ai.recommend.training``) reads the event log,
``benchmarks/recommend.py`` reads a file; both then call what is here, so the benchmark
measures what a shop gets:

* ``resolve_params``: the parameters (``ecom_ai.recommend.params.derive_params`` from the
  data's shape, under the explicit ones; unknown names refused);
* ``holdout_metrics`` / ``HoldoutEvaluator``: NDCG@10 and HR@10 of the held-out next item,
  full ranking, memory-bounded (``ecom_ai.recommend.scoring``);
* ``fit``: ``fit_sasrec`` in this process, in ``nproc`` processes
  (``ecom_ai.ml.distributed.run_distributed``), or as one worker of a ``torchrun`` launch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from ecom_ai.ml import distributed
from ecom_ai.recommend.evaluation import ranking_metrics
from ecom_ai.recommend.params import DataShape, check_param_names, derive_params, exclude_seen_default, loss_choice
from ecom_ai.recommend.repeats import RepeatPrior, choose_weight, fused_scorer
from ecom_ai.recommend.sasrec import DEFAULT_PARAMS, FitReport, SequenceData, fit_sasrec, merged_params, user_states
from ecom_ai.recommend.scoring import matrix_scorer, memory_budget_mb

logger = logging.getLogger("ecom_ai.recommend")

# what is not derived from the data (ecom_ai.recommend.params) and differs from sasrec.DEFAULT_PARAMS;
# ema: every evaluation also scores a moving average of the weights and keeps the better (on ML-1M the
# average led at 12 of 13 evaluations, by up to 0.005 validation NDCG@10; docs/benchmarks.md)
PRODUCT_DEFAULTS = {"id_dropout": 0.15, "patience": 3, "ema": 0.999}
# the trainer's own parameters (not the network's)
EXTRA_DEFAULTS = {"mode": "full", "refresh_epochs": 10, "eval_users": 5000, "nproc": 1}
KNOWN_PARAMS = frozenset(DEFAULT_PARAMS) | frozenset(EXTRA_DEFAULTS) | {"preset"}  # preset: the registry's tag


@dataclass
class ResolvedParams:
    params: dict  # everything fit_sasrec and the trainer read
    derived: dict  # what derive_params chose (before the explicit ones)
    explicit: dict  # what was asked for
    shape: DataShape
    exclude_seen: bool = False
    exclude_seen_reason: str = ""
    loss: str = ""
    loss_reason: str = ""
    notes: list = field(default_factory=list)

    def describe(self) -> str:
        chosen = ", ".join(f"{k}={self.params[k]}" for k in sorted(self.derived))
        explicit = ", ".join(f"{k}={v}" for k, v in sorted(self.explicit.items()))
        return (
            f"data: {self.shape.describe()}; derived: {chosen}"
            + (f"; explicit: {explicit}" if explicit else "")
            + f"; loss: {self.loss_reason}; "
            + self.exclude_seen_reason
        )


def resolve_params(data: SequenceData, n_items: int, explicit: dict | None) -> ResolvedParams:
    """Derived defaults for this data, the explicit parameters over them (``UnknownParameter`` for a typo)."""
    explicit = dict(explicit or {})
    check_param_names(explicit, KNOWN_PARAMS, "recommender parameter")
    shape = DataShape.of(data.items, n_items)
    derived = derive_params(shape)
    params = {
        **EXTRA_DEFAULTS,
        **merged_params({**PRODUCT_DEFAULTS, **derived, **explicit}),
        **{k: v for k, v in explicit.items() if k in EXTRA_DEFAULTS},
    }
    loss, loss_reason = loss_choice(params, n_items)
    exclude_seen, why = exclude_seen_default(shape)
    return ResolvedParams(
        params=params,
        derived=derived,
        explicit=explicit,
        shape=shape,
        exclude_seen=exclude_seen,
        exclude_seen_reason=why,
        loss=loss,
        loss_reason=loss_reason,
    )


def trained_mask(data: SequenceData, n_items: int) -> np.ndarray:
    """0/1 per item code (n + 1): items that are a training target (their id embedding is learned)."""
    mask = np.zeros(n_items + 1, dtype=np.float32)
    targets = [s[1:] for s in data.items if len(s) > 1]
    if targets:
        mask[np.unique(np.concatenate(targets))] = 1.0
    mask[0] = 0.0
    return mask


def holdout_metrics(
    model,
    inputs: SequenceData,
    targets: np.ndarray,
    n_items: int,
    *,
    exclude_seen: bool = False,
    memory_mb: float | None = None,
    negatives: int = 0,
    seed: int = 0,
    repeat: RepeatPrior | None = None,
) -> dict:
    """NDCG@10/HR@10 of ``targets`` after ``inputs``, full ranking, scored chunk by chunk.

    ``repeat``: scores fused with the shopper's recent items (``ecom_ai.recommend.repeats``),
    as serving does, when its weight is above 0.
    """
    if not len(targets):
        return {}
    with torch.no_grad():
        vectors = model.item_vectors().detach().cpu()
    model.cpu()
    states = user_states(model, inputs, vectors=vectors)
    scorer = matrix_scorer(states, vectors)
    if repeat is not None and repeat.active:
        scorer = fused_scorer(scorer, inputs.items, repeat)
    return ranking_metrics(
        scorer,
        targets,
        inputs.items,
        n_items,
        k=10,
        exclude_seen=exclude_seen,
        negatives=negatives,
        seed=seed,
        memory_mb=memory_mb,
    )


def fit_repeat_prior(
    model,
    train: SequenceData,
    inputs: SequenceData,
    targets: np.ndarray,
    n_items: int,
    *,
    exclude_seen: bool,
    memory_mb: float | None = None,
) -> RepeatPrior | None:
    """The repeat prior of ``train`` with its weight chosen on the hold-out (``None`` when seen items are excluded).

    Data that does not repeat items (``exclude_seen``) gets none; otherwise the share of next
    events on each recency rank is measured on the training sequences and the mixture weight
    picked by validation NDCG@10 of ``targets`` after ``inputs`` (0 when mixing does not help).
    """
    if exclude_seen or not len(targets):
        return None
    prior = RepeatPrior.estimate(train.items)
    if prior.repeat_share <= 0:
        return prior
    with torch.no_grad():
        vectors = model.item_vectors().detach().cpu()
    model.cpu()
    states = user_states(model, inputs, vectors=vectors)
    return choose_weight(
        prior,
        matrix_scorer(states, vectors),
        np.asarray(targets),
        inputs.items,
        n_items,
        memory_mb=memory_mb if memory_mb is not None else memory_budget_mb(),
    )


class HoldoutEvaluator:
    """``evaluate(model) -> metrics`` for ``fit_sasrec`` (picklable: it travels to DDP workers)."""

    def __init__(
        self,
        inputs: SequenceData,
        targets: np.ndarray,
        n_items: int,
        *,
        exclude_seen: bool = False,
        memory_mb: float | None = None,
    ):
        self.inputs, self.targets, self.n_items = inputs, np.asarray(targets), n_items
        # resolved here: a DDP worker has no Django settings to read it from
        self.exclude_seen, self.memory_mb = exclude_seen, memory_mb if memory_mb is not None else memory_budget_mb()

    def __call__(self, model) -> dict:
        device = next(model.parameters()).device
        try:
            return holdout_metrics(
                model, self.inputs, self.targets, self.n_items, exclude_seen=self.exclude_seen, memory_mb=self.memory_mb
            )
        finally:
            model.to(device)


def _fit_worker(model, train, params, evaluate, trained_items, event_weights, *, device):
    report = fit_sasrec(
        model, train, params, evaluate=evaluate, device=device, trained_items=trained_items, event_weights=event_weights
    )
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}, report


def fit(
    model,
    train: SequenceData,
    params: dict,
    *,
    evaluate=None,
    progress=None,
    device=None,
    trained_items=None,
    event_weights=None,
) -> FitReport:
    """Train ``model`` in place: here, in ``params["nproc"]`` processes, or as a torchrun worker."""
    nproc = int(params.get("nproc") or 1)
    if distributed.launched_by_torchrun():
        joined = not torch.distributed.is_initialized()
        device = distributed.init_from_env()
        clean = False
        try:
            shared = [train, trained_items, event_weights]
            torch.distributed.broadcast_object_list(shared, src=0)  # every worker trains on rank 0's data
            train, trained_items, event_weights = shared
            rank, _ = distributed.world()
            report = fit_sasrec(
                model,
                train,
                params,
                evaluate=evaluate if rank == 0 else None,
                progress=progress if rank == 0 else None,
                device=device,
                trained_items=trained_items,
                event_weights=event_weights,
            )
            clean = True
        finally:
            if joined:  # the group this call joined is left here, all ranks together (distributed.leave)
                distributed.leave(clean=clean)
        return report
    if nproc > 1:
        threads = params.get("threads")
        state, report = distributed.run_distributed(
            _fit_worker,
            nproc,
            model.cpu(),
            train,
            params,
            evaluate,
            trained_items,
            event_weights,
            threads=int(threads) if threads else None,
            device=device,
        )
        model.load_state_dict(state)
        model.eval()
        if progress is not None:
            last = report.history[-1] if report.history else {"loss": 0.0}
            progress(
                report.epochs,
                report.planned_epochs or report.epochs,
                last["loss"],
                {k: v for k, v in last.items() if k in ("ndcg@10", "hr@10")},
                100.0,
            )
        return report
    return fit_sasrec(
        model,
        train,
        params,
        evaluate=evaluate,
        progress=progress,
        device=device,
        trained_items=trained_items,
        event_weights=event_weights,
    )


def fit_summary(resolved: ResolvedParams, report: FitReport) -> dict:
    """What is recorded with the model version (and printed): the loss and why, the budget, the derivation."""
    return {
        "loss": report.loss or resolved.loss,
        "loss_reason": report.loss_reason or resolved.loss_reason,
        "batch_tokens": report.batch_tokens,
        "epochs_run": report.epochs,
        "planned_epochs": report.planned_epochs,
        "steps": report.steps,
        "train_cpu_seconds": round(report.cpu_seconds, 1),
        "train_seconds": round(report.seconds, 1),
        "stopped": report.stopped,
        "processes": report.world_size,
        "derived_params": dict(resolved.derived),
        "data_shape": resolved.shape.as_dict(),
    }
