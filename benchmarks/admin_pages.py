#!/usr/bin/env python
"""Response times of the events admin pages on a large events table.

    .venv/bin/python benchmarks/admin_pages.py --db postgres --rows 2000000

Creates a throwaway database (PostgreSQL ``ecom_ai_bench_admin_<pid>``, dropped at the end,
or a temporary SQLite file), fills ``ecom_ai_event`` with ``--rows`` generated events spread
over the last 365 days (the generator of ``benchmarks/ingest.py``), logs in a superuser with
Django's test client and times each page (after one warm-up request): the changelist,
filters, search, the date drill-down, a deep page and the overview. Prints a table with the
number of queries and the slowest one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest  # noqa: E402

PAGES = [
    ("events list", "/admin/ecom_ai/event/"),
    ("filter: channel", "/admin/ecom_ai/event/?channel=store"),
    ("filter: type + channel", "/admin/ecom_ai/event/?channel=store&event_type=purchase"),
    ("search: user key", "/admin/ecom_ai/event/?q=1234"),
    ("drill-down: a year", "/admin/ecom_ai/event/?occurred_at__year={year}"),
    ("drill-down: a month", "/admin/ecom_ai/event/?occurred_at__year={year}&occurred_at__month={month}"),
    ("a deep page", "/admin/ecom_ai/event/?p={page}"),
    ("overview, 30 days", "/admin/ecom_ai/event/overview/"),
    ("overview, 90 days", "/admin/ecom_ai/event/overview/?days=90"),
]


def measure(rows: int) -> list[tuple]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    ingest.create_schema()
    fill = ingest.fill_table(rows)
    print(f"# {connection.vendor}: filled {rows:,} rows in {fill:.0f} s", file=sys.stderr)
    client = Client()
    client.force_login(User.objects.create_superuser("bench", "bench@example.com", "-"))
    today = timezone.localdate()
    results = []
    for label, url in PAGES:
        url = url.format(year=today.year, month=today.month, page=max(1, min(500, rows // 200)))
        client.get(url)  # warm-up
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        slowest = max(float(q["time"]) for q in queries.captured_queries)
        results.append(
            (connection.vendor, label, round(seconds * 1000), len(queries.captured_queries), round(slowest * 1000))
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    admin = None
    if args.db == "postgres":
        import psycopg

        name = f"ecom_ai_bench_admin_{os.getpid()}"
        admin = psycopg.connect(
            dbname="postgres",
            user=os.environ.get("PGUSER", "postgres"),
            host=os.environ.get("PGHOST", "127.0.0.1"),
            autocommit=True,
        )
        admin.execute(f'CREATE DATABASE "{name}"')
    else:
        tmpdir = tempfile.TemporaryDirectory(prefix="ecom_ai_bench_")
        name = os.path.join(tmpdir.name, "bench.sqlite3")
    try:
        ingest.setup_django(args.db, name, 500)
        results = measure(args.rows)
    finally:
        from django.db import connections

        connections.close_all()
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    print(f"| db | page ({args.rows:,} events) | response ms | queries | slowest query ms |")
    print("|---|---|---:|---:|---:|")
    for row in results:
        print("| " + " | ".join(str(v) for v in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
