"""``FraudTrainer``: trains the fraud model from labelled assessments, through the registry.

Training rows are the features stored with each assessment (computed when the order was
placed, so nothing from the future leaks in) and the labels:

* reviewer decisions (approve → legitimate, mark as fraud → fraud),
* imported chargebacks (``manage.py ecom_ai_import_chargebacks``) → fraud,
* optionally auto-accepted orders older than ``FRAUD_ASSUME_LEGIT_AFTER_DAYS`` with no
  chargeback → legitimate (set it to ``None`` to train on explicit labels only).

Inputs: the built-in features plus the shop's declared ``FRAUD_EXTRA_FEATURES`` (report-only
attributes never).

**Validation** (what the stored metrics were measured on, recorded in the version's
``validation``):

* the **newest window** (the newest ``validation_fraction`` of labelled orders, by order
  time) when it can validate: at least ``validation_min_positives`` fraud labels and a
  fraud rate within a factor ``validation_max_rate_ratio`` of the older rows'. The model
  trains on the older rows and early-stops and calibrates on that window;
* otherwise **time-blocked folds** over the whole labelled history: the history cut into
  ``folds × fold_blocks`` contiguous periods dealt round-robin to ``folds`` folds, each fold
  held out once while a model trains on the others (early stopping and calibration on a
  stratified random share of its training rows). A burst of related orders stays on one
  side, and every fold model sees every season. The metrics are those of the out-of-fold
  scores, measured inside each fold and averaged (the fold models are not on one scale, so
  pooling their scores would compare orders across models). The served model then trains
  on all labelled rows (early stopping and calibration again on a stratified random share,
  never on a window without signal).

Metrics: ``roc_auc`` (the gate's metric), ``pr_auc``, ``recall_at_1pct_fpr``, ``brier``,
95 % bootstrap intervals of ROC-AUC and PR-AUC (``roc_auc_low``/``roc_auc_high``...), and
the built-in heuristic's ``heuristic_roc_auc`` / ``heuristic_pr_auc`` on the same rows:
the quality floor requires ≥ 50 fraud labels, ≥ 500 labelled orders and a ROC-AUC above
the heuristic's (``ecom_ai.ml.quality``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.db.models import Q
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.fraud import extras
from ecom_ai.fraud.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from ecom_ai.fraud.model import FraudModel
from ecom_ai.ml.registry import NotEnoughData, ProgressReporter, Trainer, TrainResult
from ecom_ai.ml.validation import blocked_folds, bootstrap_interval, stratified_holdout, within_groups

DEFAULT_PARAMS = {
    "epochs": 40,
    "batch_size": 256,
    "lr": 3e-3,
    "hidden": 64,
    "dropout": 0.1,
    "weight_decay": 1e-4,
    "patience": 6,
    "min_count": 5,
    "validation_fraction": 0.2,
    "validation_min_positives": 20,
    "validation_max_rate_ratio": 2.0,
    "folds": 5,
    "fold_blocks": 4,
    "inner_validation_fraction": 0.15,
    "bootstrap": 200,
}


def labelled_rows(now=None):
    """``(feature dicts, labels, placed_at list)`` of the assessments usable for training."""
    from ecom_ai.models.fraud import FraudAssessment

    query = Q(label__isnull=False)
    days = ecom_settings.FRAUD_ASSUME_LEGIT_AFTER_DAYS
    if days:
        cutoff = (now or timezone.now()) - timedelta(days=days)
        query |= Q(label__isnull=True, status=FraudAssessment.STATUS_AUTO, placed_at__lt=cutoff)
    rows, labels, times = [], [], []
    for features, label, placed in (
        FraudAssessment.objects.filter(query)
        .exclude(scorer="error")
        .order_by("placed_at", "pk")
        .values_list("features", "label", "placed_at")
        .iterator(chunk_size=2000)
    ):
        if not isinstance(features, dict) or not features:
            continue
        rows.append(features)
        labels.append(1 if label else 0)
        times.append(placed)
    return rows, np.asarray(labels, dtype=np.int64), times


def model_inputs() -> tuple[list[str], list[str]]:
    """``(numeric, categorical)`` input names: the built-in features and the declared extras."""
    return (list(NUMERIC_FEATURES) + extras.numeric_names(), list(CATEGORICAL_FEATURES) + extras.categorical_names())


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann–Whitney U form of the ROC-AUC (ties count half)."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sorted_p = p[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _average_precision(y: np.ndarray, p: np.ndarray) -> float:
    order = np.argsort(-p, kind="mergesort")
    y_sorted = y[order]
    hits = np.cumsum(y_sorted)
    precision = hits / np.arange(1, len(y) + 1)
    return float((precision * y_sorted).sum() / max(1, y.sum()))


def _recall_at_fpr(y: np.ndarray, p: np.ndarray, fpr: float) -> float:
    negatives = p[y == 0]
    threshold = np.quantile(negatives, 1 - fpr) if len(negatives) else np.inf
    positives = p[y == 1]
    return float((positives > threshold).mean()) if len(positives) else 0.0


def evaluate(y, p, groups=None) -> dict:
    """ROC-AUC, PR-AUC (average precision), recall at 1% FPR and Brier score (NumPy only).

    ``groups`` (a fold id per row, for out-of-fold scores): the ranking metrics are measured
    inside each fold and averaged (``ecom_ai.ml.validation.within_groups``)."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    if len(np.unique(y)) < 2:
        return {}
    if groups is not None:
        values = {
            "roc_auc": within_groups(_roc_auc)(y, p, groups),
            "pr_auc": within_groups(_average_precision, "positives")(y, p, groups),
            "recall_at_1pct_fpr": within_groups(_recall_at_fpr_1pct, "positives")(y, p, groups),
        }
        if any(v is None for v in values.values()):  # no fold has both classes: pool after all
            return evaluate(y, p)
        return {**values, "brier": float(np.mean((p - y) ** 2))}
    return {
        "roc_auc": _roc_auc(y, p),
        "pr_auc": _average_precision(y, p),
        "recall_at_1pct_fpr": _recall_at_fpr(y, p, 0.01),
        "brier": float(np.mean((p - y) ** 2)),
    }


def _recall_at_fpr_1pct(y: np.ndarray, p: np.ndarray) -> float:
    return _recall_at_fpr(y, p, 0.01)


def heuristic_scores(rows) -> np.ndarray:
    """The built-in heuristic's score (0–100) of each feature row: the baseline a model must beat."""
    from ecom_ai.fraud.scoring import heuristic_score

    return np.asarray([heuristic_score(row)[0] for row in rows], dtype=np.float64)


# --------------------------------------------------------------------------- validation plan


@dataclass
class ValidationPlan:
    """How a training validates: on the newest window (``cut``: first validation row) or by folds."""

    method: str  # "newest_window" | "time_blocked_folds"
    cut: int
    window_rows: int
    window_positives: int
    reason: str = ""  # why the newest window could not validate

    @property
    def label(self) -> str:
        return "the newest window" if self.method == "newest_window" else "time-blocked folds"


def plan_validation(labels: np.ndarray, params: dict) -> ValidationPlan:
    """The newest window when it can validate; time-blocked folds when it is degenerate."""
    total = len(labels)
    cut = int(round(total * (1 - float(params["validation_fraction"]))))
    cut = min(max(cut, 1), total - 1)
    window, older = labels[cut:], labels[:cut]
    positives, negatives = int(window.sum()), int(len(window) - window.sum())
    minimum = int(params["validation_min_positives"])
    ratio_limit = float(params["validation_max_rate_ratio"])
    old_rate = older.mean() if len(older) else 0.0
    new_rate = window.mean() if len(window) else 0.0
    reason = ""
    if positives < minimum:
        reason = f"the newest {len(window)} labelled orders hold {positives} fraud labels, fewer than {minimum}"
    elif negatives < minimum:
        reason = f"the newest {len(window)} labelled orders hold {negatives} legitimate ones, fewer than {minimum}"
    elif old_rate > 0 and not (1 / ratio_limit <= new_rate / old_rate <= ratio_limit):
        reason = (
            f"their fraud rate {new_rate:.1%} is far from the {old_rate:.1%} of the older orders "
            f"(more than {ratio_limit:g}x apart)"
        )
    method = "time_blocked_folds" if reason else "newest_window"
    return ValidationPlan(method, cut, len(window), positives, reason)


@dataclass
class Validated:
    """Validation scores of a training: the model's and the heuristic's, on the same rows."""

    y: np.ndarray
    p: np.ndarray
    rows: list
    times: list
    folds: list = field(default_factory=list)
    groups: np.ndarray | None = None  # the fold of each row (out-of-fold scores)
    epochs: int = 0
    best_epoch: int = 0


class FraudTrainer(Trainer):
    kind = "fraud"
    primary_metric = "roc_auc"
    quick_params = {"epochs": 8, "folds": 2, "bootstrap": 50, "patience": 3}  # `ecom_ai_train_all --quick`
    higher_is_better = True
    floor_minimums = {"fraud_labels": (50, "fraud labels"), "labelled_orders": (500, "labelled orders")}
    floor_baselines = {"heuristic": "heuristic_roc_auc"}

    def train(self, params: dict, progress: ProgressReporter) -> TrainResult:
        params = {**DEFAULT_PARAMS, **(params or {})}
        rows, labels, times = labelled_rows()
        self._check_enough(labels)
        numeric, categorical = model_inputs()
        plan = plan_validation(labels, params)
        positives, total = int(labels.sum()), len(labels)
        if plan.method == "newest_window":
            progress.update(
                percent=1,
                message=f"Training on {plan.cut} orders, validating on the newest "
                f"{plan.window_rows} ({positives} fraud labels in all).",
            )
            model, validated = self._train_on_window(rows, labels, times, plan, numeric, categorical, params, progress)
        else:
            progress.update(
                percent=1,
                message=f"The newest window cannot validate: {plan.reason}. Validating "
                f"with {params['folds']} time-blocked folds over {total} orders.",
            )
            model, validated = self._train_with_folds(rows, labels, times, numeric, categorical, params, progress)
        metrics, validation = self._report(validated, plan, params)
        metrics.update(
            labelled_orders=total,
            fraud_labels=positives,
            epochs=validated.epochs,
            best_epoch=validated.best_epoch,
            train_rows=plan.cut if plan.method == "newest_window" else total,
        )
        return TrainResult(
            payload=model.to_bytes(),
            metrics=metrics,
            params={
                **{k: params[k] for k in DEFAULT_PARAMS},
                "extra_features": numeric[len(NUMERIC_FEATURES) :] + categorical[len(CATEGORICAL_FEATURES) :],
            },
            data_start=min(times) if times else None,
            data_end=max(times) if times else None,
            validation=validation,
        )

    def load(self, payload):
        return FraudModel.from_bytes(payload)

    # --- parts ------------------------------------------------------------------------
    @staticmethod
    def _check_enough(labels) -> None:
        positives, total = int(labels.sum()), len(labels)
        if total < ecom_settings.FRAUD_MIN_LABELS:
            raise NotEnoughData(
                f"{total} labelled orders, at least {ecom_settings.FRAUD_MIN_LABELS} are needed "
                "(review flagged orders or import chargebacks)."
            )
        if positives < ecom_settings.FRAUD_MIN_POSITIVES or total - positives < ecom_settings.FRAUD_MIN_POSITIVES:
            raise NotEnoughData(
                f"{positives} fraud and {total - positives} legitimate labels; at least "
                f"{ecom_settings.FRAUD_MIN_POSITIVES} of each are needed."
            )

    def _fit(self, rows, labels, val_rows, val_labels, numeric, categorical, params, on_epoch=None):
        model = FraudModel(
            numeric,
            categorical,
            hidden=int(params["hidden"]),
            dropout=float(params["dropout"]),
            min_count=int(params["min_count"]),
        )
        report = model.fit(
            rows,
            labels,
            val_rows=val_rows,
            val_labels=val_labels,
            epochs=int(params["epochs"]),
            batch_size=int(params["batch_size"]),
            lr=float(params["lr"]),
            weight_decay=float(params["weight_decay"]),
            patience=int(params["patience"]),
            seed=int(params.get("seed") or ecom_settings.SEED),
            device=self.device,
            progress=on_epoch,
        )
        return model, report

    def _fit_inner(self, rows, labels, numeric, categorical, params, on_epoch=None):
        """Fit on ``rows`` with early stopping and calibration on a stratified random share of them."""
        seed = int(params.get("seed") or ecom_settings.SEED)
        kept, held = stratified_holdout(labels, float(params["inner_validation_fraction"]), seed)
        return self._fit(
            [rows[i] for i in kept],
            labels[kept],
            [rows[i] for i in held],
            labels[held],
            numeric,
            categorical,
            params,
            on_epoch,
        )

    def _train_on_window(self, rows, labels, times, plan, numeric, categorical, params, progress):
        def on_epoch(epoch, epochs, loss, metrics):
            progress.update(epoch=epoch, total_epochs=epochs, loss=loss, metrics=metrics)

        cut = plan.cut
        model, report = self._fit(
            rows[:cut], labels[:cut], rows[cut:], labels[cut:], numeric, categorical, params, on_epoch
        )
        validated = Validated(
            labels[cut:],
            model.predict_proba(rows[cut:]),
            rows[cut:],
            times[cut:],
            epochs=report.epochs,
            best_epoch=report.best_epoch,
        )
        return model, validated

    def _train_with_folds(self, rows, labels, times, numeric, categorical, params, progress):
        folds = blocked_folds(len(labels), int(params["folds"]), int(params["fold_blocks"]))
        out_of_fold = np.zeros(len(labels), dtype=np.float64)
        groups = np.zeros(len(labels), dtype=np.int64)
        fold_reports = []
        steps = len(folds) + 1
        for number, (train_idx, test_idx) in enumerate(folds, start=1):
            progress.update(
                percent=100.0 * (number - 1) / steps,
                message=f"Fold {number} of {len(folds)}: validating on {len(test_idx)} orders in "
                f"{params['fold_blocks']} periods from {times[test_idx[0]]:%Y-%m-%d} to "
                f"{times[test_idx[-1]]:%Y-%m-%d}.",
            )
            fold_model, _ = self._fit_inner(
                [rows[i] for i in train_idx], labels[train_idx], numeric, categorical, params
            )
            out_of_fold[test_idx] = fold_model.predict_proba([rows[i] for i in test_idx])
            groups[test_idx] = number
            fold_metrics = evaluate(labels[test_idx], out_of_fold[test_idx])
            fold_reports.append(
                {
                    "fold": number,
                    "start": times[test_idx[0]],
                    "end": times[test_idx[-1]],
                    "rows": int(len(test_idx)),
                    "positives": int(labels[test_idx].sum()),
                    "roc_auc": fold_metrics.get("roc_auc"),
                }
            )

        def on_epoch(epoch, epochs, loss, metrics):
            progress.update(
                epoch=epoch,
                total_epochs=epochs,
                loss=loss,
                metrics=metrics,
                percent=100.0 * (steps - 1 + epoch / max(1, epochs)) / steps,
            )

        progress.update(message=f"Training the served model on all {len(labels)} labelled orders.")
        model, report = self._fit_inner(rows, labels, numeric, categorical, params, on_epoch)
        return model, Validated(
            labels,
            out_of_fold,
            rows,
            times,
            folds=fold_reports,
            groups=groups,
            epochs=report.epochs,
            best_epoch=report.best_epoch,
        )

    @staticmethod
    def _report(validated: Validated, plan: ValidationPlan, params) -> tuple[dict, dict]:
        """The version's metrics (with intervals and the heuristic's) and what they were measured on."""
        y, p, groups = validated.y, validated.p, validated.groups
        metrics = evaluate(y, p, groups)
        heuristic = heuristic_scores(validated.rows)
        baseline = evaluate(y, heuristic, groups)
        seed = int(params.get("seed") or ecom_settings.SEED)
        n_boot = int(params["bootstrap"])
        intervals = {}
        roc, ap = _roc_auc, _average_precision
        if groups is not None:  # out-of-fold scores: measured inside each fold (see ``evaluate``)
            roc, ap = within_groups(_roc_auc), within_groups(_average_precision, "positives")
        for name, fn in (("roc_auc", roc), ("pr_auc", ap)):
            low, high = bootstrap_interval(fn, y, p, n_boot=n_boot, seed=seed, groups=groups)
            if low is not None:
                intervals[name] = [round(low, 4), round(high, 4)]
                metrics[f"{name}_low"], metrics[f"{name}_high"] = low, high
        low, high = bootstrap_interval(roc, y, heuristic, n_boot=n_boot, seed=seed, groups=groups)
        if low is not None:
            intervals["heuristic_roc_auc"] = [round(low, 4), round(high, 4)]
        if baseline:
            metrics["heuristic_roc_auc"] = baseline["roc_auc"]
            metrics["heuristic_pr_auc"] = baseline["pr_auc"]
        positives = int(y.sum())
        metrics.update(validation_rows=int(len(y)), validation_positives=positives)
        validation = {
            "method": plan.method,
            "method_label": plan.label,
            "rows": int(len(y)),
            "positives": positives,
            "start": min(validated.times) if validated.times else None,
            "end": max(validated.times) if validated.times else None,
            "intervals": intervals,
            "confidence": 0.95,
            "bootstrap_resamples": n_boot,
            "newest_window": {"rows": plan.window_rows, "positives": plan.window_positives},
        }
        if plan.method != "newest_window":
            validation.update(fallback_reason=plan.reason, folds=validated.folds)
        return metrics, validation
