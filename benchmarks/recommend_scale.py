"""Recommender at scale: memory-bounded evaluation, approximate serving, data-parallel training.

Three measurements, each in its own subprocess (peak memory is per measurement):

* ``eval``: the trainer's evaluation (``ecom_ai.recommend.fitting.holdout_metrics``: model
  states, then chunked full-ranking scoring) of ``--users`` shoppers × ``--items`` items,
  with each shopper's history excluded; peak RSS against what one dense score matrix would
  take.
* ``ann``: ``SequentialRecommender.recommend()`` over a synthetic catalogue of
  ``--ann-items`` items (clustered item vectors, as trained embeddings are), through the
  faiss index and exactly: per-request latency p50/p99 and recall@10 of the index vs exact.
* ``ddp``: training throughput (tokens per second) of ``--nproc`` processes
  (``ecom_ai.ml.distributed``, gloo on CPU / nccl on GPU) against one process, same data,
  same global batch, a fixed number of epochs.

    nice -n 10 .venv/bin/python benchmarks/recommend_scale.py                 # all three
    nice -n 10 .venv/bin/python benchmarks/recommend_scale.py --only eval --users 50000 --items 60000
    nice -n 10 .venv/bin/python benchmarks/recommend_scale.py --only ann --ann-items 1000000
    nice -n 10 .venv/bin/python benchmarks/recommend_scale.py --only ddp --nproc 2

Prints a table (``--json FILE`` writes the rows); a measurement that fails makes it exit 1.
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
sys.path[:0] = [ROOT]

import torch  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_sequences(users: int, items: int, length: tuple[int, int], seed: int = 0):
    from ecom_ai.recommend.sasrec import SequenceData

    rng = np.random.default_rng(seed)
    seqs = [
        rng.integers(1, items + 1, int(rng.integers(length[0], length[1] + 1))).astype(np.int64) for _ in range(users)
    ]
    ones = [np.ones(len(s), dtype=np.int64) for s in seqs]
    return SequenceData(seqs, ones, ones)


def run_eval(args) -> dict:
    from ecom_ai.recommend.fitting import holdout_metrics
    from ecom_ai.recommend.sasrec import ItemFeatures, build_model
    from ecom_ai.recommend.scoring import chunk_shape

    torch.manual_seed(0)
    inputs = synthetic_sequences(args.users, args.items, (3, 30))
    targets = np.random.default_rng(1).integers(1, args.items + 1, args.users)
    model = build_model(
        args.items, 1, 1, ItemFeatures(), {"hidden": 64, "blocks": 2, "heads": 1, "maxlen": 50, "dropout": 0.2}
    )
    before = peak_rss_mb()
    started = time.monotonic()
    metrics = holdout_metrics(model, inputs, targets, args.items, exclude_seen=True, memory_mb=args.memory_mb)
    seconds = time.monotonic() - started
    rows, _ = chunk_shape(args.users, args.items + 1, args.memory_mb)
    dense_mb = args.users * (args.items + 1) * 4 / 2**20
    return {
        "measure": "eval",
        "users": args.users,
        "items": args.items,
        "seconds": seconds,
        "chunk_users": rows,
        "scoring_memory_mb": args.memory_mb,
        "dense_matrix_mb": dense_mb,
        "rss_before_scoring_mb": before,
        "ndcg@10": metrics["ndcg@10"],
        "peak_rss_mb": peak_rss_mb(),
    }


def clustered_vectors(n: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        end = min(n, start + step)
        out[start:end] = centres[rng.integers(0, clusters, end - start)] * 0.5
        out[start:end] += rng.normal(scale=0.35, size=(end - start, dim)).astype(np.float32)
    return out


def run_ann(args) -> dict:
    from ecom_ai.recommend import ann
    from ecom_ai.recommend.sasrec import ItemFeatures, SequentialRecommender, build_model, to_payload

    if not ann.available():
        raise SystemExit("faiss is not installed: pip install ecom-ai[ann] (faiss-cpu)")
    ann.DEFAULT_MIN_ITEMS = min(ann.DEFAULT_MIN_ITEMS, args.ann_items)  # no Django settings here: index this size
    torch.manual_seed(0)
    n, dim = args.ann_items, 64
    model = build_model(n, 1, 1, ItemFeatures(), {"hidden": dim, "blocks": 2, "heads": 1, "maxlen": 50, "dropout": 0.0})
    with torch.no_grad():
        model.item_id.weight[1:] = torch.from_numpy(clustered_vectors(n, dim, args.clusters))
    keys = [str(i) for i in range(1, n + 1)]
    started = time.monotonic()
    payload = to_payload(
        model,
        item_keys=keys,
        event_types=["view"],
        channels=["web"],
        categories=[],
        params={"hidden": dim, "blocks": 2, "maxlen": 50},
    )
    build_s = time.monotonic() - started
    started = time.monotonic()
    rec = SequentialRecommender(payload)
    load_s = time.monotonic() - started
    assert rec.ann_index is not None, "the index was not used (RECOMMEND_ANN_MIN_ITEMS?)"
    import faiss

    torch.set_num_threads(1)  # one request, one thread: as a web worker serves (RECOMMEND_INFERENCE_THREADS)
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(5)
    requests = [
        [(str(int(i)), "view", "web") for i in rng.integers(1, n + 1, int(rng.integers(1, 20)))]
        for _ in range(args.requests)
    ]
    exclude = [{h[0] for h in history} for history in requests]  # as a shop excludes what was just seen
    index_ms, exact_ms, index_cpu_ms, exact_cpu_ms, recalls = [], [], [], [], []
    for history, skip in zip(requests, exclude):
        t0, c0 = time.perf_counter(), time.thread_time()
        rec.recommend(history, 10, exclude=skip)
        index_ms.append((time.perf_counter() - t0) * 1000)
        index_cpu_ms.append((time.thread_time() - c0) * 1000)
    saved, rec.ann_index = rec.ann_index, None
    for history, skip in zip(requests, exclude):
        t0, c0 = time.perf_counter(), time.thread_time()
        rec.recommend(history, 10, exclude=skip)
        exact_ms.append((time.perf_counter() - t0) * 1000)
        exact_cpu_ms.append((time.thread_time() - c0) * 1000)
    for history, skip in zip(requests, exclude):
        rec.ann_index = saved
        approximate = {k for k, _ in rec.recommend(history, 10, exclude=skip)}
        rec.ann_index = None
        exact = {k for k, _ in rec.recommend(history, 10, exclude=skip)}
        recalls.append(len(approximate & exact) / max(1, len(exact)))
    return {
        "measure": "ann",
        "items": n,
        "requests": args.requests,
        "index_build_s": build_s,
        "load_s": load_s,
        "index_p50_ms": float(np.percentile(index_ms, 50)),
        "index_p99_ms": float(np.percentile(index_ms, 99)),
        "exact_p50_ms": float(np.percentile(exact_ms, 50)),
        "exact_p99_ms": float(np.percentile(exact_ms, 99)),
        # CPU time of the request's thread: what the latency would be without waiting for a core
        "index_cpu_p99_ms": float(np.percentile(index_cpu_ms, 99)),
        "exact_cpu_p99_ms": float(np.percentile(exact_cpu_ms, 99)),
        "load_average": os.getloadavg()[0],
        "recall@10": float(np.mean(recalls)),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_ddp(args) -> dict:
    from ecom_ai.recommend.fitting import fit
    from ecom_ai.recommend.sasrec import ItemFeatures, build_model

    data = synthetic_sequences(args.ddp_users, 5000, (10, 40), seed=2)
    tokens = sum(len(s) - 1 for s in data.items) * args.ddp_epochs
    params = {
        "hidden": 64,
        "blocks": 2,
        "heads": 1,
        "maxlen": 50,
        "dropout": 0.2,
        "epochs": args.ddp_epochs,
        "batch_tokens": 4096,
        "eval_every": 1000,
        "loss": "full",
        "seed": 1,
    }
    out = {
        "measure": "ddp",
        "users": args.ddp_users,
        "epochs": args.ddp_epochs,
        "tokens": tokens,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "cpus": os.cpu_count(),
    }
    cpus = os.cpu_count() or 1
    # one process with all the threads, one process with one thread, nproc processes sharing the threads
    for name, nproc, threads in (
        ("p1", 1, cpus),
        ("p1t1", 1, 1),
        (f"p{args.nproc}", args.nproc, max(1, cpus // args.nproc)),
    ):
        torch.manual_seed(0)
        model = build_model(5000, 1, 1, ItemFeatures(), params)
        run_params = {**params, "nproc": nproc, "threads": threads}
        started = time.monotonic()
        report = fit(model, data, run_params, device="cuda" if torch.cuda.is_available() else "cpu")
        wall = time.monotonic() - started
        out[f"{name}_wall_s"] = wall  # with starting the processes
        out[f"{name}_train_s"] = report.seconds
        out[f"{name}_cpu_s"] = report.cpu_seconds  # rank 0's
        out[f"{name}_tokens_per_s"] = tokens / report.seconds
        out[f"{name}_loss"] = report.history[-1]["loss"]
        out[f"{name}_threads_each"] = threads
    out["speedup_vs_p1"] = out[f"p{args.nproc}_tokens_per_s"] / out["p1_tokens_per_s"]
    out["speedup_vs_p1t1"] = out[f"p{args.nproc}_tokens_per_s"] / out["p1t1_tokens_per_s"]
    out["load_average"] = os.getloadavg()[0]
    out["peak_rss_mb"] = peak_rss_mb()
    return out


RUNNERS = {"eval": run_eval, "ann": run_ann, "ddp": run_ddp}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="eval,ann,ddp", help="measurements, comma separated: eval, ann, ddp")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=60_000)
    parser.add_argument("--memory-mb", type=float, default=256.0, help="RECOMMEND_SCORING_MEMORY_MB for eval")
    parser.add_argument("--ann-items", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--ddp-users", type=int, default=20_000)
    parser.add_argument("--ddp-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.child:
        torch.set_num_threads(args.threads)
        print(json.dumps(RUNNERS[args.child](args)))
        return
    rows, failed = [], []
    for name in [m.strip() for m in args.only.split(",") if m.strip()]:
        if name not in RUNNERS:
            parser.error(f"unknown measurement {name!r}; known: {', '.join(RUNNERS)}")
        cmd = [sys.executable, os.path.abspath(__file__), "--child", name]
        for key, value in vars(args).items():
            if key not in ("only", "child", "json"):
                cmd += [f"--{key.replace('_', '-')}", str(value)]
        print(f"measuring {name}...", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if done.returncode:
            failed.append(f"{name} (exit {done.returncode})")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for row in rows:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
