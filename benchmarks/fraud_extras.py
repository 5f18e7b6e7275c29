"""Fraud through the product path on a data set that has only shop-specific fields.

    .venv/bin/python benchmarks/fraud_extras.py [--data ../shared/datasets/fraud-ecommerce]

"Fraud_Data" has none of the product's usual order facts (no e-mail, no addresses, no
payment fingerprint); its columns reach the model only through
``ECOM_AI["FRAUD_EXTRA_FEATURES"]`` (the order total is the one built-in fact). The run:

1. maps every column to a declared extra attribute (``EXTRAS`` below; age and sex are
   declared **report only**: stored for the fairness report, never a model input);
2. cuts a **user-disjoint hold-out** (30 % of users, by a seeded random draw; every user has
   exactly one purchase in this file, so no user is on both sides) that never enters the
   database;
3. scores every other order through ``ecom_ai.fraud.scoring.score_order`` (the heuristic:
   there is no model yet) and stores the assessment with its label, as a shop's reviewers and
   chargebacks would label it;
4. trains with ``train_model("fraud")`` — the registry, the trainer's own validation
   (newest window, or time-blocked folds when the window is degenerate), the quality floor;
5. scores the hold-out through ``score_order`` with the trained model and compares its
   ROC-AUC with the validation ROC-AUC the version recorded, beside LightGBM and logistic
   regression trained on the same columns and the heuristic score.

Velocity and sharing counts are computed without leakage (``benchmarks/fraud.py``'s
``features``: each row sees only rows purchased before it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timezone as tz
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox_shop")]

from benchmarks.fraud import features, load, metrics  # noqa: E402

NUMERIC_EXTRAS = [
    "minutes_since_signup",
    "accounts_on_device",
    "accounts_on_ip",
    "orders_device_1h",
    "orders_device_24h",
    "orders_device_7d",
    "orders_ip_1h",
    "orders_ip_24h",
    "orders_ip_7d",
    "signup_hour",
    "purchase_weekday",
    "hour_of_day",
]
CATEGORICAL_EXTRAS = ["channel", "browser", "ip_country"]
# the data set's columns under shop-specific names (a shop would name them after its own systems)
EXTRAS = {
    **{f"shop_{name}": {"type": "numeric", "source": "api", "key": name} for name in NUMERIC_EXTRAS},
    **{f"shop_{name}": {"type": "categorical", "source": "api", "key": name} for name in CATEGORICAL_EXTRAS},
    "shop_age": {"type": "numeric", "source": "api", "key": "age", "report_only": True, "bins": [25, 35, 45]},
    "shop_sex": {"type": "categorical", "source": "api", "key": "sex", "report_only": True},
}


def _setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["ECOM_AI_TEST_DB"] = "sqlite"
    import django
    from django.conf import settings

    django.setup()
    settings.MIGRATION_MODULES = {app.label: None for app in django.apps.apps.get_app_configs()}
    settings.DEBUG = False
    from django.test.utils import setup_databases

    return setup_databases(verbosity=0, interactive=False)


def _facts(row, x_row, order_key):
    from ecom_ai.fraud.features import OrderFacts

    extra = {key: x_row[key] for key in NUMERIC_EXTRAS + CATEGORICAL_EXTRAS}
    extra.update(age=float(row.age), sex=row.sex)
    extra = {k: (v.item() if hasattr(v, "item") else v) for k, v in extra.items()}
    return OrderFacts(
        order_key=order_key,
        amount=float(row.purchase_value),
        currency="USD",
        placed_at=row.purchase_time.to_pydatetime().replace(tzinfo=tz.utc),
        extra=extra,
        extra_source="api",
    )


def _baselines(x, y, train_mask, seed, threads):
    from benchmarks.fraud import run_lightgbm, run_logreg

    numeric = NUMERIC_EXTRAS + ["amount"]
    cols = numeric + CATEGORICAL_EXTRAS
    xtr, xte = x.loc[train_mask, cols], x.loc[~train_mask, cols]
    return {
        "LightGBM (same columns)": run_lightgbm(xtr, y[train_mask], xte, seed, threads, categorical=CATEGORICAL_EXTRAS)[
            0
        ],
        "logistic regression (same columns)": run_logreg(
            xtr, y[train_mask], xte, seed, numeric=numeric, categorical=CATEGORICAL_EXTRAS
        )[0],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT / "../shared/datasets/fraud-ecommerce"))
    parser.add_argument("--holdout", type=float, default=0.3, help="share of users held out (never stored)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-rows", type=int, default=None, help="first N rows in file order (smoke runs)")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not (data / "Fraud_Data.csv.gz").exists():
        parser.error(f"{data}/Fraud_Data.csv.gz not found (give --data)")

    import torch

    torch.set_num_threads(args.threads)
    df = load(data)
    if args.max_rows:
        df = df[df["file_row"] < args.max_rows].reset_index(drop=True)
    x = features(df)
    y = df["class"].to_numpy()
    rng = np.random.default_rng(args.seed)
    train_mask = rng.random(len(df)) >= args.holdout
    print(
        f"{len(df)} orders, fraud {y.mean():.2%}; stored for training {train_mask.sum()} "
        f"(fraud {y[train_mask].mean():.2%}), user-disjoint hold-out {(~train_mask).sum()} "
        f"(fraud {y[~train_mask].mean():.2%})"
    )

    old = _setup_django()
    from django.conf import settings
    from django.test.utils import override_settings, teardown_databases

    try:
        with override_settings(
            ECOM_AI={**settings.ECOM_AI, "FRAUD_EXTRA_FEATURES": EXTRAS, "FRAUD_ASSUME_LEGIT_AFTER_DAYS": None}
        ):
            from ecom_ai.fraud.scoring import _json_features, score_order
            from ecom_ai.ml.registry import train_model
            from ecom_ai.models.fraud import FraudAssessment

            started = time.perf_counter()
            objs, heuristic_holdout = [], []
            rows = list(df.itertuples())
            xr = x.to_dict("records")
            for i, row in enumerate(rows):
                result = score_order(_facts(row, xr[i], f"u{row.user_id}"))
                if not train_mask[i]:
                    heuristic_holdout.append(result.score)
                    continue
                fraud = bool(y[i])
                objs.append(
                    FraudAssessment(
                        order_key=f"u{row.user_id}",
                        amount=result.features.amount,
                        currency="USD",
                        placed_at=result.features.placed_at,
                        score=result.score,
                        level=result.level,
                        scorer=result.scorer,
                        features=_json_features(result.features.features),
                        report_attributes=_json_features(result.features.report),
                        label=fraud,
                        status=FraudAssessment.STATUS_FRAUD if fraud else FraudAssessment.STATUS_APPROVED,
                    )
                )
            FraudAssessment.objects.bulk_create(objs, batch_size=1000)
            print(
                f"stored {len(objs)} labelled assessments through score_order in {time.perf_counter() - started:.0f} s"
            )
            sample = objs[0].features
            print(
                f"extras in the stored features: {sum(k in sample for k in EXTRAS)} of {len(EXTRAS)} declared "
                f"(report-only ones kept out: {'shop_age' not in sample and 'shop_sex' not in sample})"
            )

            started = time.perf_counter()
            version = train_model("fraud", {})
            train_s = time.perf_counter() - started
            v = version.validation or {}
            print(
                f"trained version {version.number}: status {version.status}, {train_s:.0f} s; validation "
                f"{v.get('method_label') or v.get('method')} ({v.get('rows')} rows, {v.get('positives')} positives)"
                + (f"; why: {v.get('fallback_reason')}" if v.get("fallback_reason") else "")
            )
            for fold in v.get("folds") or []:
                print(
                    f"  fold {fold['fold']}: {str(fold['start'])[:10]} to {str(fold['end'])[:10]}, {fold['rows']} rows, "
                    f"{fold['positives']} positives, ROC-AUC {fold.get('roc_auc') or float('nan'):.3f}"
                )
            from ecom_ai.ml.artifacts import load_artifact
            from ecom_ai.ml.registry import get_trainer

            model = get_trainer("fraud").load(load_artifact(version.artifact))
            probs = []
            for i, row in enumerate(rows):
                if not train_mask[i]:
                    probs.append(score_order(_facts(row, xr[i], f"h{row.user_id}"), model=model).probability)
            yte = y[~train_mask]
            results = {
                "ecom_ai product path (extras only)": np.asarray(probs, dtype=float),
                "built-in heuristic score": np.asarray(heuristic_holdout, dtype=float),
            }
            results.update(_baselines(x, y, train_mask, args.seed, args.threads))
    finally:
        teardown_databases(old, verbosity=0)

    print(
        "\n| model | validation ROC-AUC recorded by the trainer (95 % CI) | hold-out ROC-AUC | hold-out PR-AUC "
        "| recall @1 % FPR |"
    )
    print("|---|---|---|---|---|")
    m = version.metrics
    for name, p in results.items():
        h = metrics(yte, p)
        recorded = (
            f"{m['roc_auc']:.3f} ({m.get('roc_auc_low', float('nan')):.3f}–{m.get('roc_auc_high', float('nan')):.3f})"
            if name.startswith("ecom_ai")
            else "–"
        )
        print(f"| {name} | {recorded} | {h['roc_auc']:.3f} | {h['pr_auc']:.3f} | {h['recall@1%fpr']:.3f} |")
    gap = abs(m["roc_auc"] - metrics(yte, results["ecom_ai product path (extras only)"])["roc_auc"])
    print(
        f"\n|validation − hold-out| ROC-AUC = {gap:.3f} ({'within' if gap <= 0.05 else 'NOT within'} 0.05); "
        f"heuristic on the validation rows {m.get('heuristic_roc_auc', float('nan')):.3f}; "
        f"quality floor passed: {(version.quality or {}).get('passed')}"
    )


if __name__ == "__main__":
    main()
