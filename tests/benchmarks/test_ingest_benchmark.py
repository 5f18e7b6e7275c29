"""The ingestion benchmark still runs end to end (tiny sizes), on a throwaway database."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_benchmark_runs_and_prints_its_table():
    db = "postgres" if os.environ.get("ECOM_AI_TEST_DB") == "postgres" else "sqlite"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "ingest.py"),
            "--db",
            db,
            "--events",
            "200",
            "--batch-size",
            "100",
            "--grow-to",
            "1000",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("| db ") and "http ev/s" in lines[0] and "client / raw" in lines[0]
    assert len(lines) == 2 + 4  # header, rule, table sizes 0, 100, 500, 1000
    assert all(("sqlite" if db == "sqlite" else "postgresql") in line for line in lines[2:])


def test_ingest_benchmark_rejects_bad_arguments():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ingest.py"), "--modes", "fax"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "--modes takes http, client and/or raw" in done.stderr
