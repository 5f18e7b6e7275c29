"""Next-item recommendation benchmark: our SASRec recommender against what a user would pick instead.

Protocol (leave-one-out, as in the SASRec paper): per user, the last item is the test
target, the one before it the validation target, the rest training data. Every model is
scored on the same targets, two ways: **full ranking** over all items and **100 sampled
negatives** (uniform over items the user never had). ``--exclude-seen`` (default for
ML-1M, which has no repeated items) removes the user's own history from the full ranking.

Models, in one run, each in its own subprocess (so peak memory is per model):

* ``popularity``: interaction counts;
* ``itemknn``: item-item cosine co-occurrence, summed over the user's history;
* ``als``: implicit ALS (the ``implicit`` library), a small grid chosen on the
  validation targets, then refit with the validation items included;
* ``sasrec``: ``ecom_ai.recommend.sasrec`` trained on the training part, early-stopped on
  the validation targets of ``--val-users`` users (evaluated every ``eval_every`` epochs),
  optional time budget. ``--sasrec-validation subset`` (the default): only those users'
  validation items are held out, every other user's is training data, as it is for the
  baselines; ``all``: every user's validation item is held out (the SASRec paper's split,
  used for the figures recorded before 2026-12-06).

Baselines are fitted on train + validation items (all a user had before the test item);
our model sees the same items as input when predicting the test item.

    .venv/bin/python benchmarks/recommend.py --dataset ml-1m
    .venv/bin/python benchmarks/recommend.py --dataset online-retail --models als,sasrec
    .venv/bin/python benchmarks/recommend.py --dataset ml-1m --models sasrec --time-budget 900 \\
        --param hidden=64 --param negatives=1024
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

MODELS = ("popularity", "itemknn", "als", "sasrec")
# per-dataset defaults for our model (overridable with --param key=value)
SASREC_DEFAULTS = {
    "ml-1m": {"hidden": 128, "maxlen": 200, "dropout": 0.2, "lr": 2e-3, "batch_tokens": 4096, "loss": "full",
              "long_windows": True, "ema": 0.999,
              "id_dropout": 0.0, "eval_every": 4, "patience": 3, "epochs": 200},
    "online-retail": {"hidden": 64, "maxlen": 100, "dropout": 0.3, "lr": 1e-3, "loss": "full", "id_dropout": 0.1,
                      "eval_every": 4, "patience": 3, "epochs": 200},
    "taobao": {"hidden": 64, "maxlen": 100, "dropout": 0.4, "lr": 1e-3, "loss": "sampled", "negatives": 2048,
               "id_dropout": 0.2, "eval_every": 4, "patience": 3, "epochs": 200},
}


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


def evaluate(score_fn, targets, histories, n_items, exclude_seen):
    return ranking_metrics(score_fn, targets, histories, n_items, k=10, exclude_seen=exclude_seen, negatives=100, seed=7)


# --------------------------------------------------------------------------- models

def run_popularity(ds, args):
    train, _, val_t, test_t = split(ds)
    started = time.monotonic()
    seen = [np.append(s, v) for s, v in zip(train, val_t)]
    counts = np.bincount(np.concatenate(seen), minlength=ds.n_items + 1).astype(np.float32)
    fit = time.monotonic() - started
    scores = torch.from_numpy(counts)
    metrics = evaluate(lambda idx: scores.expand(len(idx), -1), test_t, seen, ds.n_items, args.exclude_seen)
    return {"train_s": fit, **metrics}


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

    metrics = evaluate(score, test_t, seen, ds.n_items, args.exclude_seen)
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
        model = AlternatingLeastSquares(factors=factors, regularization=reg, alpha=alpha, iterations=15,
                                        random_state=1, num_threads=args.threads)
        model.fit(matrix, show_progress=False)
        return model

    def scorer(model):
        users = torch.from_numpy(np.asarray(model.user_factors))
        items = torch.from_numpy(np.asarray(model.item_factors))
        return lambda idx: users[torch.as_tensor(idx)] @ items.T

    best = None
    for factors, reg, alpha in grid:
        model = fit(train, factors, reg, alpha)
        val = evaluate(scorer(model), val_t, train, ds.n_items, args.exclude_seen)
        if best is None or val["ndcg@10"] > best[0]:
            best = (val["ndcg@10"], factors, reg, alpha)
    _, factors, reg, alpha = best
    model = fit(seen, factors, reg, alpha)
    elapsed = time.monotonic() - started
    metrics = evaluate(scorer(model), test_t, seen, ds.n_items, args.exclude_seen)
    return {"train_s": elapsed, "params": f"factors={factors} reg={reg} alpha={alpha} (grid of {len(grid)})", **metrics}


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
    from ecom_ai.recommend.sasrec import SequenceData, build_model, fit_sasrec, merged_params, score_last

    params = {**SASREC_DEFAULTS.get(ds.name, {}), **args.params}
    if args.time_budget:
        params["time_budget"] = args.time_budget
    features = item_features(ds, params)
    params = merged_params(params)
    train, train_ev, val_t, test_t = split(ds)
    ones = [np.ones_like(e) for e in train_ev]
    rng = np.random.default_rng(3)
    val_users = np.arange(len(train)) if len(train) <= args.val_users else np.sort(
        rng.choice(len(train), args.val_users, replace=False))
    if args.sasrec_validation == "subset":
        # only the early-stopping users' validation items are held out; every other user's
        # validation item is training data, as it is for the baselines
        held = np.zeros(len(train), dtype=bool)
        held[val_users] = True
        fit_items = [s if held[u] else np.append(s, val_t[u]) for u, s in enumerate(train)]
        fit_events = [e if held[u] else ds.events[u][:len(e) + 1] for u, e in enumerate(train_ev)]
        train_data = SequenceData(fit_items, fit_events, [np.ones_like(e) for e in fit_events])
    else:
        fit_items = train
        train_data = SequenceData(train, train_ev, ones)
    val_data = SequenceData([train[u] for u in val_users], [train_ev[u] for u in val_users],
                            [ones[u] for u in val_users])
    n_types = len(ds.event_types)
    model = build_model(ds.n_items, n_types, 1, features, params)
    trained = np.zeros(ds.n_items + 1, dtype=np.float32)
    trained[np.unique(np.concatenate([s[1:] for s in fit_items]))] = 1

    def validate(model):
        scores = score_last(model, val_data)
        return ranking_metrics(lambda idx: scores[idx], val_t[val_users], [train[u] for u in val_users], ds.n_items,
                               exclude_seen=args.exclude_seen, negatives=0)

    curve = []

    def progress(epoch, total, loss, metrics, percent):
        cpu = time.process_time() - cpu_started
        if metrics:
            point = [epoch, round(time.monotonic() - started, 1), round(cpu, 1), round(metrics["ndcg@10"], 4)]
            if "averaged_ndcg@10" in metrics:  # params ema: the moving average of the weights, same evaluation
                point.append(round(metrics["averaged_ndcg@10"], 4))
            curve.append(point)
        if args.verbose:
            print(f"  epoch {epoch} loss {loss:.4f} wall {time.monotonic() - started:.0f}s cpu {cpu:.0f}s {metrics}",
                  file=sys.stderr, flush=True)

    started, cpu_started = time.monotonic(), time.process_time()
    report = fit_sasrec(model, train_data, params, evaluate=validate, progress=progress, trained_items=trained)
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu_started
    test_in = SequenceData([np.append(s, v) for s, v in zip(train, val_t)], [e[:-1] for e in ds.events],
                           [np.ones(len(s) + 1, dtype=np.int64) for s in train])
    scores = score_last(model, test_in)
    metrics = evaluate(lambda idx: scores[idx], test_t, [np.append(s, v) for s, v in zip(train, val_t)], ds.n_items,
                       args.exclude_seen)
    shown = {k: params[k] for k in ("hidden", "blocks", "maxlen", "dropout", "lr", "batch_tokens", "loss", "negatives",
                                    "precision", "long_windows", "id_dropout", "ema")}
    return {"train_s": elapsed, "train_cpu_s": cpu, "epochs": report.epochs, "best_epoch": report.best_epoch,
            "best_weights": report.best_weights, "stopped": report.stopped,
            "curve": curve, "params": " ".join(f"{k}={v}" for k, v in shown.items())
            + f" text={features.text is not None} category={features.category is not None}"
            + f" validation={args.sasrec_validation}", **metrics}


RUNNERS = {"popularity": run_popularity, "itemknn": run_itemknn, "als": run_als, "sasrec": run_sasrec}


# --------------------------------------------------------------------------- driver

def parse_params(values):
    out = {}
    for value in values or ():
        key, _, raw = value.partition("=")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def run_one(args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    started = time.monotonic()
    ds = datasets.load(args.dataset, args.path, args.columns, args.event_order)
    load_s = time.monotonic() - started
    rss_data = peak_rss_mb()
    row = RUNNERS[args.model](ds, args)
    row.update(model=args.model, dataset=args.dataset, load_s=load_s, rss_after_load_mb=rss_data,
               peak_rss_mb=peak_rss_mb(), describe=ds.describe())
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="ml-1m", choices=sorted(datasets.LOADERS))
    parser.add_argument("--path", default=None, help="dataset file (default: ../shared/datasets/...)")
    parser.add_argument("--columns", default="", help="csv: column mapping, e.g. user=uid,item=sku,time=ts,event=type")
    parser.add_argument("--event-order", default="", help="csv: event types weakest first, e.g. view,cart,buy")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)  # child process
    parser.add_argument("--exclude-seen", dest="exclude_seen", action="store_true", default=None)
    parser.add_argument("--include-seen", dest="exclude_seen", action="store_false")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds of training for our model")
    parser.add_argument("--param", action="append", default=[], help="our model's parameter key=value (repeatable)")
    parser.add_argument("--val-users", type=int, default=2000, help="users in the validation subset (early stopping)")
    parser.add_argument("--sasrec-validation", choices=("all", "subset"), default="subset",
                        help="our model's held-out validation items: every user's (all, as in the SASRec paper) or "
                             "only the early-stopping subset's, the other users' being training data as they are "
                             "for the baselines (subset)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the result rows to this file")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.exclude_seen is None:
        args.exclude_seen = args.dataset == "ml-1m"
    args.params = parse_params(args.param)
    if args.model:  # child: one model, JSON on the last stdout line
        print(json.dumps(run_one(args)))
        return
    rows = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        if model not in RUNNERS:
            parser.error(f"unknown model {model!r}; known: {', '.join(MODELS)}")
        cmd = [sys.executable, os.path.abspath(__file__), "--model", model, "--dataset", args.dataset,
               "--threads", str(args.threads), "--val-users", str(args.val_users),
               "--sasrec-validation", args.sasrec_validation,
               "--exclude-seen" if args.exclude_seen else "--include-seen"]
        if args.path:
            cmd += ["--path", args.path]
        if args.columns:
            cmd += ["--columns", args.columns]
        if args.event_order:
            cmd += ["--event-order", args.event_order]
        if args.time_budget:
            cmd += ["--time-budget", str(args.time_budget)]
        for value in args.param:
            cmd += ["--param", value]
        if args.verbose:
            cmd.append("--verbose")
        print(f"running {model} on {args.dataset}...", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if done.returncode:
            print(f"{model} failed (exit {done.returncode})", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if not rows:
        sys.exit(1)
    print(rows[0]["describe"])
    print(f"leave-one-out, {rows[0]['users']} test users, full ranking "
          f"{'without' if args.exclude_seen else 'including'} the user's history; sampled = 100 negatives")
    header = f"{'model':<11} {'HR@10':>7} {'NDCG@10':>8} {'HR@10 s':>8} {'NDCG@10 s':>9} {'train s':>8} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['model']:<11} {row['hr@10']:>7.4f} {row['ndcg@10']:>8.4f} {row.get('hr@10_sampled', 0):>8.4f} "
              f"{row.get('ndcg@10_sampled', 0):>9.4f} {row['train_s']:>8.1f} {row['peak_rss_mb']:>8.0f}")
    for row in rows:
        if row.get("params"):
            extra = f" epochs={row['epochs']} best={row['best_epoch']} {row['stopped']}" if "epochs" in row else ""
            if row.get("best_weights") == "averaged":
                extra += " (best: the moving average of the weights)"
            print(f"  {row['model']}: {row['params']}{extra}")
        if row.get("curve"):
            averaged = ", averaged weights' ndcg@10" if len(row["curve"][0]) > 4 else ""
            print(f"  {row['model']} validation ndcg@10 by (epoch, wall s, cpu s, ndcg@10{averaged}): {row['curve']}")
        if row.get("train_cpu_s"):
            print(f"  {row['model']}: training used {row['train_cpu_s']:.0f} CPU seconds in {row['train_s']:.0f} wall seconds")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
