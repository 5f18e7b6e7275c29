"""``FraudTrainer``: trains the fraud model from labelled assessments, through the registry.

Training rows are the features stored with each assessment (computed when the order was
placed, so nothing from the future leaks in) and the labels:

* reviewer decisions (approve → legitimate, mark as fraud → fraud),
* imported chargebacks (``manage.py ecom_ai_import_chargebacks``) → fraud,
* optionally auto-accepted orders older than ``FRAUD_ASSUME_LEGIT_AFTER_DAYS`` with no
  chargeback → legitimate (set it to ``None`` to train on explicit labels only).

Rows are ordered by order time; the newest 20% are the validation split used for early
stopping, calibration and the metrics (``roc_auc`` is the evaluation gate's metric).
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np
from django.db.models import Q
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.fraud.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from ecom_ai.fraud.model import FraudModel
from ecom_ai.ml.registry import NotEnoughData, ProgressReporter, Trainer, TrainResult

DEFAULT_PARAMS = {"epochs": 40, "batch_size": 256, "lr": 3e-3, "hidden": 64, "dropout": 0.1,
                  "weight_decay": 1e-4, "patience": 6, "min_count": 5, "validation_fraction": 0.2}


def labelled_rows(now=None):
    """``(feature dicts, labels, placed_at list)`` of the assessments usable for training."""
    from ecom_ai.models.fraud import FraudAssessment

    query = Q(label__isnull=False)
    days = ecom_settings.FRAUD_ASSUME_LEGIT_AFTER_DAYS
    if days:
        cutoff = (now or timezone.now()) - timedelta(days=days)
        query |= Q(label__isnull=True, status=FraudAssessment.STATUS_AUTO, placed_at__lt=cutoff)
    rows, labels, times = [], [], []
    for features, label, placed in (FraudAssessment.objects.filter(query).exclude(scorer="error")
                                    .order_by("placed_at", "pk").values_list("features", "label", "placed_at")
                                    .iterator(chunk_size=2000)):
        if not isinstance(features, dict) or not features:
            continue
        rows.append(features)
        labels.append(1 if label else 0)
        times.append(placed)
    return rows, np.asarray(labels, dtype=np.int64), times


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


def evaluate(y, p) -> dict:
    """ROC-AUC, PR-AUC (average precision), recall at 1% FPR and Brier score (NumPy only)."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    if len(np.unique(y)) < 2:
        return {}
    return {
        "roc_auc": _roc_auc(y, p),
        "pr_auc": _average_precision(y, p),
        "recall_at_1pct_fpr": _recall_at_fpr(y, p, 0.01),
        "brier": float(np.mean((p - y) ** 2)),
    }


class FraudTrainer(Trainer):
    kind = "fraud"
    primary_metric = "roc_auc"
    higher_is_better = True

    def train(self, params: dict, progress: ProgressReporter) -> TrainResult:
        params = {**DEFAULT_PARAMS, **(params or {})}
        rows, labels, times = labelled_rows()
        positives, total = int(labels.sum()), len(labels)
        if total < ecom_settings.FRAUD_MIN_LABELS:
            raise NotEnoughData(f"{total} labelled orders, at least {ecom_settings.FRAUD_MIN_LABELS} are needed "
                                "(review flagged orders or import chargebacks).")
        if positives < ecom_settings.FRAUD_MIN_POSITIVES or total - positives < ecom_settings.FRAUD_MIN_POSITIVES:
            raise NotEnoughData(f"{positives} fraud and {total - positives} legitimate labels; at least "
                                f"{ecom_settings.FRAUD_MIN_POSITIVES} of each are needed.")
        cut = int(round(total * (1 - float(params["validation_fraction"]))))
        cut = min(max(cut, 1), total - 1)
        # the validation split must hold both classes for calibration and metrics
        if labels[cut:].sum() in (0, total - cut):
            order = np.random.default_rng(int(params.get("seed") or ecom_settings.SEED)).permutation(total)
            rows = [rows[i] for i in order]
            labels, times = labels[order], [times[i] for i in order]
        model = FraudModel(list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES), hidden=int(params["hidden"]),
                           dropout=float(params["dropout"]), min_count=int(params["min_count"]))
        progress.update(percent=1, message=f"Training on {cut} orders, validating on {total - cut} "
                                           f"({positives} fraud labels in all).")

        def on_epoch(epoch, epochs, loss, metrics):
            progress.update(epoch=epoch, total_epochs=epochs, loss=loss, metrics=metrics)

        report = model.fit(rows[:cut], labels[:cut], val_rows=rows[cut:], val_labels=labels[cut:],
                           epochs=int(params["epochs"]), batch_size=int(params["batch_size"]), lr=float(params["lr"]),
                           weight_decay=float(params["weight_decay"]), patience=int(params["patience"]),
                           seed=int(params.get("seed") or ecom_settings.SEED), device=self.device, progress=on_epoch)
        metrics = evaluate(labels[cut:], model.predict_proba(rows[cut:]))
        metrics.update(train_rows=cut, validation_rows=total - cut, fraud_labels=positives,
                       epochs=report.epochs, best_epoch=report.best_epoch)
        return TrainResult(
            payload=model.to_bytes(), metrics=metrics,
            params={k: params[k] for k in DEFAULT_PARAMS},
            data_start=min(times) if times else None, data_end=max(times) if times else None,
        )

    def load(self, payload):
        return FraudModel.from_bytes(payload)
