"""The fraud benchmark's pieces still run end to end (in process, on a small slice of the data set)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "datasets" / "fraud-ecommerce"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import fraud as module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


@pytest.mark.skipif(not (DATA / "Fraud_Data.csv.gz").exists(), reason="data set not available")
def test_fraud_benchmark_pieces_run(bench):
    import torch

    threads_before = torch.get_num_threads()
    df = bench.load(DATA)
    assert len(df) == 30189 and df["class"].isin([0, 1]).all()  # truncated row dropped
    assert (df["ip_country"] != "").mean() > 0.7
    df = df[df["file_row"] < 1500].reset_index(drop=True)
    x = bench.features(df)
    # leakage check: the first purchase on every device sees no other account on it
    first = ~df.duplicated("device_id")
    assert (x.loc[first.to_numpy(), "accounts_on_device"] == 0).all()
    y = df["class"].to_numpy()
    cut = 1000
    model, p, seconds, report = bench.run_ours(x.iloc[:cut], y[:cut], x.iloc[cut:], 1, epochs=3, threads=1)
    assert p.shape == (len(df) - cut,) and np.isfinite(p).all() and report.epochs <= 3
    p_lgb, _ = bench.run_lightgbm(x.iloc[:cut], y[:cut], x.iloc[cut:], 1, threads=1)
    p_lr, _ = bench.run_logreg(x.iloc[:cut], y[:cut], x.iloc[cut:], 1)
    for probs in (p, p_lgb, p_lr):
        m = bench.metrics(y[cut:], probs)
        assert 0 <= m["roc_auc"] <= 1 and 0 <= m["recall@1%fpr"] <= 1
    try:
        latency = bench.latency_model_path(model, x.iloc[cut:], 20)
    finally:
        import torch

        torch.set_num_threads(threads_before)
    assert latency["median ms"] > 0


def test_fraud_benchmark_reports_a_missing_data_set(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fraud.py"), "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "not found" in done.stderr
