"""``RecommenderTrainer`` (kind ``"recommender"``): trains the sequential recommender through the registry.

Two modes (``params["mode"]``):

* ``"full"`` (default): a new model from scratch on the event log of the training window.
* ``"refresh"``: warm-starts from the **active** version's weights and trains a few epochs
  (``refresh_epochs``) on the current events. Item, event-type, channel and category
  vocabularies keep their codes; new items (and new types, channels, categories) get new
  rows, initialised fresh (new items are content-only until they have events). With no
  active version, or one trained with another text encoder, it trains from scratch.

The evaluation gate's metric is ``ndcg@10``: the last event of each shopper (with 3 or
more steps) is held out, the model trained on the rest, and each held-out item ranked
among all items (the shopper's history is *not* excluded: shoppers do come back to an
item); on a log that repeats items, scores are fused with the shopper's recent items
(``ecom_ai.recommend.repeats``, the weight chosen on the same hold-out, 0 when it does not
help), as serving then does. ``hr@10`` and the counts are reported as well. ``NotEnoughData`` when fewer than
``RECOMMENDER_MIN_SEQUENCES`` shoppers have two or more steps.

Parameters: derived from the shape of the data (``ecom_ai.recommend.params.derive_params``:
batch size, sequence length, learning rate, epochs, width, dropout), then
``ECOM_AI["RECOMMENDER_PARAMS"]`` over them, then the params given to ``train_model``; an
unknown name is refused with a "did you mean". Names: everything in
``ecom_ai.recommend.sasrec.DEFAULT_PARAMS`` plus ``refresh_epochs``, ``eval_users`` (held-out
shoppers evaluated, at most) and ``nproc`` (training processes, ``ecom_ai.ml.distributed``).
The training itself is ``ecom_ai.recommend.fitting``, the code ``benchmarks/recommend.py``
runs on a file. The loss in use and why, the derived parameters and the data's shape are
recorded in the version's params and in the run's messages.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.ml.registry import NotEnoughData, ProgressReporter, Trainer, TrainResult
from ecom_ai.recommend.baselines import baseline_metrics
from ecom_ai.recommend.data import (
    catalog_features,
    event_weights,
    leave_last_out,
    load_event_sequences,
    training_window_start,
)
from ecom_ai.recommend.fitting import (
    HoldoutEvaluator,
    fit,
    fit_repeat_prior,
    fit_summary,
    holdout_metrics,
    resolve_params,
    trained_mask,
)
from ecom_ai.recommend.params import UnknownParameter
from ecom_ai.recommend.sasrec import SequentialRecommender, build_model, from_payload, to_payload

KIND = "recommender"

logger = logging.getLogger("ecom_ai.recommend")


def warm_start(model, old) -> None:
    """Copy ``old``'s weights into ``model``; embedding tables row by row (old codes keep their rows)."""
    new_state = model.state_dict()
    skip = {"item_text", "item_category", "id_mask"}
    with torch.no_grad():
        for name, value in old.state_dict().items():
            if name in skip or name not in new_state:
                continue
            target = new_state[name]
            if value.shape == target.shape:
                target.copy_(value)
            elif value.dim() == 2 and value.shape[1] == target.shape[1] and value.shape[0] <= target.shape[0]:
                target[: value.shape[0]].copy_(value)  # embedding tables grew: new rows keep their init


class RecommenderTrainer(Trainer):
    kind = KIND
    primary_metric = "ndcg@10"
    # `ecom_ai_train_all --quick` skips it: a small model in a few epochs does not beat co-occurrence (its floor;
    # sandbox data: ndcg@10 0.21 after 15 epochs vs 0.23), which is what serves until the full training lands
    quick_params = None
    higher_is_better = True
    # the quality floor (ecom_ai.ml.quality), measured by recommend/baselines.py on the same hold-out
    floor_minimums = {"evaluated_shoppers": (50, "shoppers with a next event")}
    floor_baselines = {"popularity": "popularity_ndcg@10", "co-occurrence": "cooccurrence_ndcg@10"}

    def load(self, payload):
        return SequentialRecommender(payload)

    def _base(self, mode):
        """The active version's payload for a refresh, or ``(None, why not)``."""
        if mode != "refresh":
            return None, ""
        from ecom_ai.ml.artifacts import ArtifactError, load_artifact
        from ecom_ai.ml.registry import active_version

        active = active_version(self.kind)
        if active is None:
            return None, "no active version to refresh: trained from scratch"
        try:
            payload = load_artifact(active.artifact)
            from_payload(payload)
        except (ArtifactError, ValueError, KeyError, RuntimeError) as exc:
            return None, f"the active v{active.number} cannot be loaded ({exc}): trained from scratch"
        return (payload, active.number), ""

    def train(self, params, progress: ProgressReporter) -> TrainResult:
        explicit = {**(ecom_settings.RECOMMENDER_PARAMS or {}), **(params or {})}
        if explicit.get("seed") is None:  # train_model's seed=None: the default seed
            explicit.pop("seed", None)
        mode = explicit.get("mode", "full")
        if mode not in ("full", "refresh"):
            raise ValueError(f"Unknown recommender training mode {mode!r}: use 'full' or 'refresh'.")
        base, note = self._base(mode)
        old = base[0] if base else None
        progress.update(percent=1, message="Reading the event log.")
        seqs = load_event_sequences(
            since=training_window_start(),
            max_events=ecom_settings.RECOMMENDER_MAX_TRAINING_EVENTS,
            item_keys=old["item_keys"] if old else None,
            event_types=old["event_types"] if old else None,
            channels=old["channels"] if old else None,
        )
        usable = sum(1 for s in seqs.data.items if len(s) >= 2)
        minimum = ecom_settings.RECOMMENDER_MIN_SEQUENCES
        if usable < minimum or seqs.n_items < 2:
            raise NotEnoughData(
                f"{usable} shoppers with two or more steps ({seqs.n_events} usable events, "
                f"{seqs.n_items} items); at least {minimum} are needed "
                "(ECOM_AI['RECOMMENDER_MIN_SEQUENCES'])."
            )
        try:
            resolved = resolve_params(seqs.data, seqs.n_items, explicit)
        except UnknownParameter as exc:
            raise ValueError(f"{exc} (ECOM_AI['RECOMMENDER_PARAMS'] or the training's params)") from None
        params = resolved.params
        features, categories, encoder_name = catalog_features(
            seqs.item_keys, old_categories=old["categories"] if old else None
        )
        if old and old.get("encoder") != encoder_name:
            note = (
                f"the active model used text encoder {old.get('encoder')!r}, now {encoder_name!r}: trained from scratch"
            )
            old, base = None, None
        fit_params = dict(params)
        if old:
            # the architecture is the active version's; a refresh only changes the data
            for key in ("hidden", "blocks", "heads", "maxlen"):
                fit_params[key] = old["params"][key]
            fit_params["epochs"] = int(params["refresh_epochs"])
        weights = event_weights()
        code_weights = [0.0] + [weights.get(name, 0.0) for name in seqs.event_types]
        model = build_model(seqs.n_items, len(seqs.event_types), len(seqs.channels), features, fit_params)
        if old:
            old_model = from_payload(old)
            warm_start(model, old_model)
            n_old = old_model.n_items
        holdout = leave_last_out(
            seqs.data, min_length=3, max_cases=int(params["eval_users"]), seed=int(fit_params["seed"])
        )
        trained = trained_mask(holdout.train, seqs.n_items)
        if old:
            trained[: n_old + 1] = np.maximum(trained[: n_old + 1], old["state_dict"]["id_mask"].numpy())
        device = self.device
        # the shop's log: shoppers come back to an item, so the gate's ranking keeps their history
        evaluate = HoldoutEvaluator(holdout.inputs, holdout.targets, seqs.n_items, exclude_seen=False)

        def report(epoch, total, loss, metrics, percent):
            progress.update(
                epoch=epoch,
                total_epochs=total,
                loss=loss,
                metrics={k: v for k, v in metrics.items() if k in ("ndcg@10", "hr@10")},
                percent=min(95.0, 5 + 0.9 * percent),
            )

        mode_used = "refresh" if old else "full"
        single = sum(1 for s in seqs.data.items if len(s) < 2)
        counts = (
            f"{len(seqs.data)} shoppers ({single} with a single step: no training target), "
            f"{seqs.n_items} items, {seqs.n_events} events ({seqs.skipped_events} without a shopper key skipped)"
        )
        nproc = int(params.get("nproc") or 1)
        where = f"{nproc} processes" if nproc > 1 else str(device)
        message = f"Training ({mode_used}) on {counts}, {where}; {resolved.loss_reason}." + (
            f" Note: {note}." if note else ""
        )
        logger.info("ecom_ai: recommender: %s %s", message, resolved.describe())
        progress.update(percent=5, message=message)
        fitted = fit(
            model,
            holdout.train,
            fit_params,
            evaluate=evaluate,
            progress=report,
            device=device,
            trained_items=trained,
            event_weights=code_weights,
        )
        model.to("cpu")
        # repeat-aware scoring (ecom_ai.recommend.repeats): the weight chosen on the same hold-out, served as gated
        repeat = fit_repeat_prior(
            model, holdout.train, holdout.inputs, holdout.targets, seqs.n_items, exclude_seen=resolved.exclude_seen
        )
        metrics = (
            holdout_metrics(model, holdout.inputs, holdout.targets, seqs.n_items, repeat=repeat)
            if len(holdout.targets)
            else {}
        )
        if repeat is not None:
            logger.info("ecom_ai: recommender: %s", repeat.describe())
        summary = fit_summary(resolved, fitted)
        metrics = {
            "ndcg@10": metrics.get("ndcg@10", 0.0),
            "hr@10": metrics.get("hr@10", 0.0),
            "evaluated_shoppers": int(len(holdout.targets)),
            "shoppers": len(seqs.data),
            "single_step_shoppers": single,
            "skipped_events": seqs.skipped_events,
            "items": seqs.n_items,
            "events": seqs.n_events,
            "epochs": fitted.epochs,
            "train_seconds": round(fitted.seconds, 1),
            "train_cpu_seconds": round(fitted.cpu_seconds, 1),
            **baseline_metrics(holdout, seqs.n_items),
        }
        payload = to_payload(
            model,
            item_keys=seqs.item_keys,
            event_types=seqs.event_types,
            channels=seqs.channels,
            categories=categories,
            params=fit_params,
            encoder_name=encoder_name,
            event_weights=code_weights,
            extra={
                "mode": mode_used,
                "warm_start_from": base[1] if base else None,
                "loss": summary["loss"],
                "loss_reason": summary["loss_reason"],
                "repeat": repeat.as_dict() if repeat is not None else None,
            },
        )
        used = {k: fit_params[k] for k in ("hidden", "blocks", "maxlen", "dropout", "lr", "batch_tokens", "epochs")}
        logger.info(
            "ecom_ai: recommender trained: loss %s (%s); %s",
            summary["loss"],
            summary["loss_reason"],
            fitted.stopped or f"{fitted.epochs} epochs",
        )
        return TrainResult(
            payload=payload,
            metrics=metrics,
            params={
                **used,
                **summary,
                "mode": mode_used,
                "warm_start_from": base[1] if base else None,
                "note": note,
                "best_epoch": fitted.best_epoch,
                "repeat_weight": repeat.weight if repeat is not None else None,
                "repeat_share": round(repeat.repeat_share, 4) if repeat is not None else None,
            },
            data_start=seqs.data_start,
            data_end=seqs.data_end,
        )
