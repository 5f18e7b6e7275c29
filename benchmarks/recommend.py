"""Next-item recommendation benchmark: our recommender against what a user would pick instead.

Protocol (leave-one-out, as in the SASRec paper): per user, the last item is the test
target, the rest is what every model may learn from. Every model is scored on the same
targets, two ways: **full ranking** over all items and **100 sampled negatives** (uniform
over items the user never had). Whether the full ranking leaves out the user's own history
is chosen from the data (``ecom_ai.recommend.params.exclude_seen_default``: a file that
never repeats an item of a user gets it left out) and printed; ``--exclude-seen`` /
``--include-seen`` override it.

Models, in one run, each in its own subprocess (so peak memory is per model):

* ``popularity``: interaction counts;
* ``recent``: popularity mixed with the user's recent items, the repeat prior of our scoring
  (``ecom_ai.recommend.repeats``) without our model: what the history alone is worth;
* ``itemknn``: item-item cosine co-occurrence, summed over the user's history;
* ``als``: implicit ALS (the ``implicit`` library), a small grid chosen on the
  validation targets (each user's second-to-last item), then refit on everything;
* ``sasrec``: **the product's trainer** (``ecom_ai.recommend.fitting``, what
  ``RecommenderTrainer`` runs on the event log) fed from the file: parameters derived from
  the data's shape (``ecom_ai.recommend.params``, no per-dataset settings), early stopping
  on the held-out next item of ``eval_users`` shoppers (the product's hold-out), budget in
  epochs or ``--cpu-budget`` CPU seconds. ``--param key=value`` overrides a parameter (an
  unknown name is refused); the row is then labelled ``sasrec (tuned)``.

All scoring is memory-bounded (``ecom_ai.recommend.scoring``, ``--scoring-memory-mb``); every
row reports its process's peak memory. A model that fails makes the run exit non-zero.

    nice -n 10 .venv/bin/python benchmarks/recommend.py --dataset ml-1m --cpu-budget 900
    .venv/bin/python benchmarks/recommend.py --dataset online-retail --models als,sasrec --cpu-budget 600
    .venv/bin/python benchmarks/recommend.py --dataset ml-1m --models sasrec --param hidden=64
    .venv/bin/python benchmarks/recommend.py --dataset txt --path my_log.txt.gz      # "user item" lines
    .venv/bin/python benchmarks/recommend.py --dataset csv --path log.csv \\
        --columns user=uid,item=sku,time=ts,event=type --event-order view,cart,buy

Prints a table (and ``--json FILE`` writes the rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]

import torch  # noqa: E402

import datasets  # noqa: E402
from ecom_ai.recommend.evaluation import ranking_metrics  # noqa: E402

MODELS = ("popularity", "recent", "itemknn", "als", "sasrec")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def split(ds):
    """Leave-one-out: (train items, train events), validation targets, test targets."""
    train = [s[:-2] for s in ds.items]
    train_ev = [e[:-2] for e in ds.events]
    val_t = np.array([s[-2] for s in ds.items])
    test_t = np.array([s[-1] for s in ds.items])
    return train, train_ev, val_t, test_t


def user_item_matrix(seqs, n_items, events=None, weights=None):
    import scipy.sparse as sp

    rows = np.concatenate([np.full(len(s), u) for u, s in enumerate(seqs)])
    cols = np.concatenate(seqs)
    if events is not None and weights is not None:
        data = np.concatenate([np.asarray(weights)[e - 1] for e in events]).astype(np.float32)
    else:
        data = np.ones(len(cols), dtype=np.float32)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(seqs), n_items + 1))
    matrix.sum_duplicates()
    return matrix


def evaluate(score_fn, targets, histories, n_items, exclude_seen, memory_mb=None):
    return ranking_metrics(
        score_fn,
        targets,
        histories,
        n_items,
        k=10,
        exclude_seen=exclude_seen,
        negatives=100,
        seed=7,
        memory_mb=memory_mb,
    )


# --------------------------------------------------------------------------- models


def run_popularity(ds, args):
    train, _, val_t, test_t = split(ds)
    started = time.monotonic()
    seen = [np.append(s, v) for s, v in zip(train, val_t)]
    counts = np.bincount(np.concatenate(seen), minlength=ds.n_items + 1).astype(np.float32)
    fit = time.monotonic() - started
    scores = torch.from_numpy(counts)
    metrics = evaluate(
        lambda idx: scores.expand(len(idx), -1), test_t, seen, ds.n_items, args.exclude_seen, args.scoring_memory_mb
    )
    return {"train_s": fit, **metrics}


def run_recent(ds, args):
    """Popularity mixed with the user's recent items: the repeat prior of our scoring without our model.

    ``ecom_ai.recommend.repeats`` on popularity instead of the network: the share of next items
    by recency rank measured on the training sequences, the weight chosen on the validation
    targets. On data whose history is left out of the ranking it is popularity.
    """
    from ecom_ai.recommend.repeats import RepeatPrior, choose_weight, fused_scorer

    train, _, val_t, test_t = split(ds)
    started = time.monotonic()
    seen = [np.append(s, v) for s, v in zip(train, val_t)]

    def popularity(seqs):
        counts = np.bincount(np.concatenate(seqs), minlength=ds.n_items + 1).astype(np.float32)
        logits = torch.from_numpy(np.log(counts + 0.5))
        return lambda idx: logits.expand(len(idx), -1).clone()

    prior = None
    if not args.exclude_seen:
        prior = choose_weight(
            RepeatPrior.estimate(train), popularity(train), val_t, train, ds.n_items, memory_mb=args.scoring_memory_mb
        )
    fit = time.monotonic() - started
    score = popularity(seen)
    if prior is not None and prior.active:
        score = fused_scorer(score, seen, prior)
    metrics = evaluate(score, test_t, seen, ds.n_items, args.exclude_seen, args.scoring_memory_mb)
    return {"train_s": fit, "repeat": prior.as_dict() if prior is not None else None, **metrics}


def run_itemknn(ds, args):
    import scipy.sparse as sp

    train, _, val_t, test_t = split(ds)
    started = time.monotonic()
    seen = [np.append(s, v) for s, v in zip(train, val_t)]
    matrix = user_item_matrix(seen, ds.n_items)
    matrix.data[:] = 1.0
    co = (matrix.T @ matrix).tocsr().astype(np.float32)
    co.setdiag(0)
    co.eliminate_zeros()
    norms = np.sqrt(np.asarray(matrix.sum(0)).ravel()) + 1e-9
    sim = sp.diags(1 / norms) @ co @ sp.diags(1 / norms)
    sim = sim.tocsr()
    fit = time.monotonic() - started

    def score(idx):
        return torch.from_numpy(np.asarray((matrix[idx] @ sim).todense(), dtype=np.float32))

    metrics = evaluate(score, test_t, seen, ds.n_items, args.exclude_seen, args.scoring_memory_mb)
    return {"train_s": fit, **metrics}


def run_als(ds, args):
    import threadpoolctl
    from implicit.cpu.als import AlternatingLeastSquares

    threadpoolctl.threadpool_limits(1, "blas")
    train, _, val_t, test_t = split(ds)
    seen = [np.append(s, v) for s, v in zip(train, val_t)]
    grid = [(f, r, a) for f in (64, 128) for r in (0.01, 0.1) for a in (1.0, 10.0)]
    started = time.monotonic()

    def fit(seqs, factors, reg, alpha):
        matrix = user_item_matrix(seqs, ds.n_items)
        model = AlternatingLeastSquares(
            factors=factors, regularization=reg, alpha=alpha, iterations=15, random_state=1, num_threads=args.threads
        )
        model.fit(matrix, show_progress=False)
        return model

    def scorer(model):
        users = torch.from_numpy(np.asarray(model.user_factors))
        items = torch.from_numpy(np.asarray(model.item_factors))
        return lambda idx: users[torch.as_tensor(idx)] @ items.T

    best = None
    for factors, reg, alpha in grid:
        model = fit(train, factors, reg, alpha)
        val = evaluate(scorer(model), val_t, train, ds.n_items, args.exclude_seen, args.scoring_memory_mb)
        if best is None or val["ndcg@10"] > best[0]:
            best = (val["ndcg@10"], factors, reg, alpha, model)
    _, factors, reg, alpha, best_model = best
    model = fit(seen, factors, reg, alpha)
    elapsed = time.monotonic() - started
    metrics = evaluate(scorer(model), test_t, seen, ds.n_items, args.exclude_seen, args.scoring_memory_mb)
    row = {"train_s": elapsed, "params": f"factors={factors} reg={reg} alpha={alpha} (grid of {len(grid)})", **metrics}
    if not args.exclude_seen:
        # for the record, not the row: ALS with our repeat-aware scoring (the same prior, weight chosen on validation)
        from ecom_ai.recommend.repeats import RepeatPrior, choose_weight, fused_scorer

        prior = choose_weight(
            RepeatPrior.estimate(train), scorer(best_model), val_t, train, ds.n_items, memory_mb=args.scoring_memory_mb
        )
        fused = evaluate(
            fused_scorer(scorer(model), seen, prior), test_t, seen, ds.n_items, False, args.scoring_memory_mb
        )
        row["with_repeat_scoring"] = {
            "ndcg@10": fused["ndcg@10"],
            "hr@10": fused["hr@10"],
            "weight": prior.weight,
            "per_shopper": prior.per_shopper,
        }
    return row


def item_features(ds, params):
    from ecom_ai.ml.text import HashingTextEncoder
    from ecom_ai.recommend.sasrec import ItemFeatures

    text = None
    if ds.text and params.get("text", True):
        encoder = HashingTextEncoder(dim=256)
        text = np.zeros((ds.n_items + 1, encoder.dim), dtype=np.float32)
        text[1:] = encoder.encode([ds.text.get(k, "") for k in ds.item_keys])
    category, n_categories = None, 0
    if ds.category and params.get("category", True):
        names = sorted(set(ds.category.values()))
        index = {c: i + 1 for i, c in enumerate(names)}
        category = np.array([0] + [index.get(ds.category.get(k), 0) for k in ds.item_keys], dtype=np.int64)
        n_categories = len(names)
    return ItemFeatures(text=text, category=category, n_categories=n_categories)


def run_sasrec(ds, args):
    """The product's training (``ecom_ai.recommend.fitting``) on the file's sequences minus each test item."""
    from ecom_ai.recommend.data import leave_last_out
    from ecom_ai.recommend.fitting import (
        HoldoutEvaluator,
        fit,
        fit_repeat_prior,
        fit_summary,
        holdout_metrics,
        resolve_params,
        trained_mask,
    )
    from ecom_ai.recommend.sasrec import SequenceData, build_model

    explicit = dict(args.params)
    if args.cpu_budget:
        explicit["cpu_budget"] = args.cpu_budget
    explicit.setdefault("threads", args.threads)
    known = ds.items
    # what a shop's event log would hold before each test event: everything but the last item
    data = SequenceData(
        [s[:-1] for s in known], [e[:-1] for e in ds.events], [np.ones(len(s) - 1, dtype=np.int64) for s in known]
    )
    resolved = resolve_params(data, ds.n_items, explicit)
    params = resolved.params
    print(f"  sasrec: {resolved.describe()}", file=sys.stderr, flush=True)
    features = item_features(ds, params)
    holdout = leave_last_out(data, min_length=3, max_cases=int(params["eval_users"]), seed=int(params["seed"]))
    model = build_model(ds.n_items, len(ds.event_types), 1, features, params)
    evaluate_fn = HoldoutEvaluator(
        holdout.inputs, holdout.targets, ds.n_items, exclude_seen=args.exclude_seen, memory_mb=args.scoring_memory_mb
    )
    curve = []

    def progress(epoch, total, loss, metrics, percent):
        cpu = time.process_time() - cpu_started
        if metrics:
            point = [epoch, round(time.monotonic() - started, 1), round(cpu, 1), round(metrics["ndcg@10"], 4)]
            if "averaged_ndcg@10" in metrics:  # params ema: the moving average of the weights, same evaluation
                point.append(round(metrics["averaged_ndcg@10"], 4))
            curve.append(point)
        if args.verbose:
            print(
                f"  epoch {epoch}/{total} loss {loss:.4f} wall {time.monotonic() - started:.0f}s cpu {cpu:.0f}s "
                f"{metrics}",
                file=sys.stderr,
                flush=True,
            )

    started, cpu_started = time.monotonic(), time.process_time()
    report = fit(
        model,
        holdout.train,
        params,
        evaluate=evaluate_fn,
        progress=progress,
        trained_items=trained_mask(holdout.train, ds.n_items),
    )
    elapsed = time.monotonic() - started
    summary = fit_summary(resolved, report)
    print(
        f"  sasrec: loss {summary['loss']} ({summary['loss_reason']}); {report.stopped or f'{report.epochs} epochs'}",
        file=sys.stderr,
        flush=True,
    )
    # repeat-aware scoring (ecom_ai.recommend.repeats), as the product's trainer and serving do
    repeat = fit_repeat_prior(
        model,
        holdout.train,
        holdout.inputs,
        holdout.targets,
        ds.n_items,
        exclude_seen=args.exclude_seen,
        memory_mb=args.scoring_memory_mb,
    )
    if repeat is not None:
        print(f"  sasrec: {repeat.describe()}; validation ndcg@10 by weight {repeat.validation}", file=sys.stderr)
    test_in = SequenceData(data.items, data.events, data.channels)
    test_t = np.array([s[-1] for s in known])
    metrics = holdout_metrics(
        model,
        test_in,
        test_t,
        ds.n_items,
        exclude_seen=args.exclude_seen,
        memory_mb=args.scoring_memory_mb,
        negatives=100,
        seed=7,
        repeat=repeat,
    )
    if repeat is not None and repeat.active:  # the model's own scores, for the record
        unfused = holdout_metrics(
            model, test_in, test_t, ds.n_items, exclude_seen=False, memory_mb=args.scoring_memory_mb
        )
        metrics["unfused_ndcg@10"], metrics["unfused_hr@10"] = unfused["ndcg@10"], unfused["hr@10"]
    shown = {
        k: params[k]
        for k in (
            "hidden",
            "blocks",
            "maxlen",
            "dropout",
            "lr",
            "batch_tokens",
            "epochs",
            "eval_every",
            "long_windows",
            "loss",
            "id_dropout",
            "threads",
        )
    }
    return {
        "train_s": elapsed,
        "train_cpu_s": report.cpu_seconds,
        "epochs": report.epochs,
        "best_epoch": report.best_epoch,
        "best_weights": report.best_weights,
        "stopped": report.stopped,
        "loss": summary["loss"],
        "loss_reason": summary["loss_reason"],
        "planned_epochs": report.planned_epochs,
        "tuned": sorted(args.params),
        "derived": resolved.derived,
        "shape": resolved.shape.as_dict(),
        "curve": curve,
        "repeat": repeat.as_dict() if repeat is not None else None,
        "params": " ".join(f"{k}={v}" for k, v in shown.items())
        + f" text={features.text is not None} category={features.category is not None}",
        **metrics,
    }


RUNNERS = {
    "popularity": run_popularity,
    "recent": run_recent,
    "itemknn": run_itemknn,
    "als": run_als,
    "sasrec": run_sasrec,
}


# --------------------------------------------------------------------------- driver


def parse_params(values):
    """``["key=value", ...]`` → dict (values parsed as JSON when they are); unknown names refused."""
    from ecom_ai.recommend.fitting import KNOWN_PARAMS
    from ecom_ai.recommend.params import check_param_names

    out = {}
    for value in values or ():
        key, sep, raw = value.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {value!r}: use key=value")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    check_param_names(out, KNOWN_PARAMS, "--param")
    return out


def run_one(args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    started = time.monotonic()
    ds = datasets.load(args.dataset, args.path, args.columns, args.event_order)
    load_s = time.monotonic() - started
    rss_data = peak_rss_mb()
    if args.exclude_seen is None:  # chosen from the data: does it repeat items of a user?
        from ecom_ai.recommend.params import DataShape, exclude_seen_default

        args.exclude_seen, args.exclude_seen_reason = exclude_seen_default(DataShape.of(ds.items, ds.n_items))
    else:
        args.exclude_seen_reason = f"seen items {'excluded' if args.exclude_seen else 'kept'} (command line)"
    row = RUNNERS[args.model](ds, args)
    row.update(
        model=args.model,
        dataset=args.dataset,
        load_s=load_s,
        rss_after_load_mb=rss_data,
        peak_rss_mb=peak_rss_mb(),
        describe=ds.describe(),
        exclude_seen=args.exclude_seen,
        exclude_seen_reason=args.exclude_seen_reason,
        threads=args.threads,
    )
    if args.model == "sasrec" and args.params:
        row["model"] = "sasrec (tuned)"
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ml-1m", choices=sorted(datasets.LOADERS))
    parser.add_argument("--path", default=None, help="dataset file (default: ../shared/datasets/...)")
    parser.add_argument("--columns", default="", help="csv: column mapping, e.g. user=uid,item=sku,time=ts,event=type")
    parser.add_argument("--event-order", default="", help="csv: event types weakest first, e.g. view,cart,buy")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)  # child process
    parser.add_argument(
        "--exclude-seen",
        dest="exclude_seen",
        action="store_true",
        default=None,
        help="leave the user's history out of the full ranking (default: chosen from the data)",
    )
    parser.add_argument("--include-seen", dest="exclude_seen", action="store_false")
    parser.add_argument(
        "--cpu-budget",
        type=float,
        default=None,
        help="our model's training budget in seconds of process CPU time (reproducible under load)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        help="our model's parameter key=value (repeatable; the row is labelled tuned)",
    )
    parser.add_argument(
        "--scoring-memory-mb",
        type=float,
        default=None,
        help="scores held at once while evaluating (default: ecom_ai.recommend.scoring's 256)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the result rows to this file")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        args.params = parse_params(args.param)
    except ValueError as exc:
        parser.error(str(exc))
    if args.model:  # child: one model, JSON on the last stdout line
        print(json.dumps(run_one(args)))
        return
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for model in models:
        if model not in RUNNERS:
            parser.error(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    rows, failed = [], []
    for model in models:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--model",
            model,
            "--dataset",
            args.dataset,
            "--threads",
            str(args.threads),
        ]
        if args.exclude_seen is not None:
            cmd.append("--exclude-seen" if args.exclude_seen else "--include-seen")
        if args.path:
            cmd += ["--path", args.path]
        if args.columns:
            cmd += ["--columns", args.columns]
        if args.event_order:
            cmd += ["--event-order", args.event_order]
        if args.cpu_budget:
            cmd += ["--cpu-budget", str(args.cpu_budget)]
        if args.scoring_memory_mb:
            cmd += ["--scoring-memory-mb", str(args.scoring_memory_mb)]
        for value in args.param:
            cmd += ["--param", value]
        if args.verbose:
            cmd.append("--verbose")
        print(f"running {model} on {args.dataset}...", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if done.returncode:
            reason = (
                "killed by signal %d (out of memory?)" % -done.returncode
                if done.returncode < 0
                else f"exit {done.returncode}"
            )
            print(f"{model} FAILED ({reason})", file=sys.stderr)
            failed.append(f"{model} ({reason})")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if rows:
        print_table(rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows + [{"model": name, "failed": True} for name in failed], handle, indent=1)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


def print_table(rows):
    print(rows[0]["describe"])
    print(
        f"leave-one-out, {rows[0]['users']} test users, full ranking "
        f"{'without' if rows[0]['exclude_seen'] else 'including'} the user's history "
        f"({rows[0]['exclude_seen_reason']}); sampled = 100 negatives; {rows[0]['threads']} threads"
    )
    header = (
        f"{'model':<15} {'HR@10':>7} {'NDCG@10':>8} {'HR@10 s':>8} {'NDCG@10 s':>9} {'train s':>8} "
        f"{'train CPU s':>11} {'peak MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        cpu = f"{row['train_cpu_s']:>11.0f}" if row.get("train_cpu_s") else f"{'':>11}"
        print(
            f"{row['model']:<15} {row['hr@10']:>7.4f} {row['ndcg@10']:>8.4f} {row.get('hr@10_sampled', 0):>8.4f} "
            f"{row.get('ndcg@10_sampled', 0):>9.4f} {row['train_s']:>8.1f} {cpu} {row['peak_rss_mb']:>8.0f}"
        )
    for row in rows:
        if row.get("params"):
            extra = f" epochs={row['epochs']} best={row['best_epoch']} {row['stopped']}" if "epochs" in row else ""
            if row.get("best_weights") == "averaged":
                extra += " (best: the moving average of the weights)"
            print(f"  {row['model']}: {row['params']}{extra}")
        if row.get("loss_reason"):
            print(f"  {row['model']}: loss {row['loss']}: {row['loss_reason']}")
        if row.get("with_repeat_scoring"):
            fused = row["with_repeat_scoring"]
            print(
                f"  {row['model']}: with our repeat-aware scoring (weight {fused['weight']:g}"
                f"{' per shopper' if fused['per_shopper'] else ''}, chosen on validation): "
                f"NDCG@10 {fused['ndcg@10']:.4f}, HR@10 {fused['hr@10']:.4f} (not the row: ALS as a user runs it)"
            )
        if row.get("repeat"):
            rep = row["repeat"]
            unfused = (
                f"; the model alone: NDCG@10 {row['unfused_ndcg@10']:.4f}, HR@10 {row['unfused_hr@10']:.4f}"
                if "unfused_ndcg@10" in row
                else ""
            )
            print(
                f"  {row['model']}: repeat-aware scoring: weight {rep['weight']:g}"
                f"{' scaled per shopper' if rep.get('per_shopper') else ''}, temperature {rep.get('temperature', 1):g}"
                f" (validation ndcg@10 by weight "
                f"{rep['validation']}), {100 * rep['repeat_share']:.1f}% of next events repeat a recent item{unfused}"
            )
        if row.get("tuned"):
            print(f"  {row['model']}: tuned by hand: {', '.join(row['tuned'])}; derived: {row['derived']}")
        if row.get("curve"):
            averaged = ", averaged weights' ndcg@10" if len(row["curve"][0]) > 4 else ""
            print(f"  {row['model']} validation ndcg@10 by (epoch, wall s, cpu s, ndcg@10{averaged}): {row['curve']}")


if __name__ == "__main__":
    main()
