"""The recommendation benchmark's loaders and its end-to-end run on a tiny generated dataset."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import datasets  # noqa: E402


def test_sasrec_text_format(tmp_path):
    path = tmp_path / "log.txt.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("1 10\n1 11\n1 12\n2 11\n2 12\n3 10\n3 12\n3 11\n4 10\n")
    ds = datasets.load("txt", str(path))
    assert len(ds.items) == 2  # users 2 and 4 have fewer than 3 interactions (leave-one-out needs 3)
    assert [ds.item_keys[c - 1] for c in ds.items[0]] == ["10", "11", "12"]
    assert [ds.item_keys[c - 1] for c in ds.items[1]] == ["10", "12", "11"]
    assert ds.n_items == 3 and ds.n_interactions == 6


def test_csv_with_column_mapping_time_and_events(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "uid,sku,ts,type,title\n"
        "a,x,3,view,X thing\n"  # out of order: sorted by time
        "a,y,1,view,Y thing\n"
        "a,y,2,buy,Y thing\n"  # consecutive repeat of y: one step, strongest type
        "a,z,4,cart,Z thing\n"
        "b,x,1,view,X thing\n"
    )
    ds = datasets.load("csv", str(path), "user=uid,item=sku,time=ts,event=type,text=title", "view,cart,buy")
    assert len(ds.items) == 1
    assert [ds.item_keys[c - 1] for c in ds.items[0]] == ["y", "x", "z"]
    assert [ds.event_types[e - 1] for e in ds.events[0]] == ["buy", "view", "cart"]
    assert ds.text["y"] == "Y thing"
    with pytest.raises(ValueError, match="needs at least user= and item="):
        datasets.load("csv", str(path), "user=uid")
    with pytest.raises(ValueError, match="no column"):
        datasets.load("csv", str(path), "user=uid,item=nope")


def run_on_a_cycle(tmp_path, *args, params=("epochs=20", "eval_every=5", "hidden=32", "maxlen=10"), check=True):
    """recommend.py on 60 users walking a cycle of 15 items; (completed process, result rows)."""
    path = tmp_path / "cycle.txt"
    lines = [f"{u} {(u + j) % 15 + 1}" for u in range(1, 61) for j in range(8)]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "rows.json"
    param_args = [arg for value in params for arg in ("--param", value)]
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "recommend.py"),
            "--dataset",
            "txt",
            "--path",
            str(path),
            "--threads",
            "1",
            *param_args,
            "--json",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(out.read_text()) if out.exists() else []


@pytest.mark.slow
def test_benchmark_runs_all_models_on_a_tiny_dataset(tmp_path):
    done, rows = run_on_a_cycle(tmp_path)
    assert "NDCG@10" in done.stdout and "peak MB" in done.stdout
    # the file never repeats an item of a user: the ranking leaves the history out, and says why
    assert "without the user's history" in done.stdout and "seen items excluded" in done.stdout
    assert "loss full: full softmax" in done.stdout
    rows = {row["model"]: row for row in rows}
    assert set(rows) == {"popularity", "recent", "itemknn", "als", "sasrec (tuned)"}  # --param: labelled tuned
    assert all(0 <= row["ndcg@10"] <= 1 and row["users"] == 60 and row["peak_rss_mb"] > 0 for row in rows.values())
    # the next item is fully determined by the last one: the sequential model gets it
    ours = rows["sasrec (tuned)"]
    assert ours["hr@10"] > 0.9 and ours["ndcg@10"] > rows["popularity"]["ndcg@10"]
    assert ours["tuned"] == ["epochs", "eval_every", "hidden", "maxlen"]


@pytest.mark.slow
def test_our_model_trains_with_derived_parameters_and_a_cpu_budget(tmp_path):
    done, (row,) = run_on_a_cycle(tmp_path, "--models", "sasrec", "--cpu-budget", "20", params=())
    assert row["model"] == "sasrec" and not row["tuned"]
    assert row["derived"]["maxlen"] == 20 and row["derived"]["batch_tokens"] == 2048  # short sequences
    assert row["train_cpu_s"] <= 20 + 5 and row["hr@10"] > 0.7
    assert "derived:" in done.stderr  # the parameters and why are printed


def test_an_unknown_parameter_is_refused_with_a_suggestion(tmp_path):
    done, rows = run_on_a_cycle(tmp_path, "--models", "popularity", params=("hiden=32",), check=False)
    assert done.returncode == 2 and "Unknown --param 'hiden'. Did you mean 'hidden'?" in done.stderr and not rows


def test_a_failing_model_makes_the_run_fail(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "recommend.py"),
            "--dataset",
            "txt",
            "--path",
            str(tmp_path / "missing.txt"),
            "--models",
            "popularity",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 1 and "popularity FAILED" in done.stderr
