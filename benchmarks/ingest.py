#!/usr/bin/env python
"""Event ingestion throughput: the batch endpoint vs a raw ``bulk_create`` of the same rows.

    .venv/bin/python benchmarks/ingest.py --db both --events 20000 --batch-size 500 --grow-to 1000000

For each database (a throwaway SQLite file, and/or a throwaway PostgreSQL database
``ecom_ai_bench_<pid>`` created and dropped by the run — never the dev database) and for
each table size on the way to ``--grow-to`` rows, it stores ``--events`` events three ways:

* ``http``: ``POST /ecom-ai/api/v1/events/`` with an ``Api-Key`` over loopback to a real WSGI
  server (wsgiref, in a thread of this process): HTTP parsing, middleware, DRF, key
  authentication, throttling, validation, identity lookup, idempotency check, bulk insert;
* ``client``: the same request through Django's test ``Client`` (no socket, no HTTP parsing);
* ``raw``: ``Event.objects.bulk_create`` of the same rows, in a transaction per batch.

Every event has a client event id (so the idempotency check runs) and realistic keys. The
table is pre-filled with generated SQL (``generate_series`` / a recursive CTE) to show how
throughput holds as it grows. Each database runs in its own child process; the parent
prints one table. ``--profile`` prints where the endpoint spends its time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "/ecom-ai/api/v1/events/"


# --- child: one database ------------------------------------------------------------------


def setup_django(db: str, name: str, batch_size: int) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "sandbox_shop")]
    os.environ.setdefault("SANDBOX_DB", "sqlite")
    import django
    from django.conf import settings

    import sandbox.settings as base

    conf = {key: getattr(base, key) for key in dir(base) if key.isupper()}
    if db == "postgres":
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "CONN_MAX_AGE": 60,
        }  # persistent connections, as in production
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": {"timeout": 20}}
    ecom_ai = {
        **conf["ECOM_AI"],
        "MAX_BATCH_SIZE": max(batch_size, 500),
        "API_KEY_THROTTLE_RATE": "1000000/min",
        "TASK_MODE": "inline",
    }
    conf.update(
        DEBUG=False,
        ALLOWED_HOSTS=["*"],
        DATABASES={"default": database},
        # no migrations: tables straight from the models (like the test suite's --nomigrations)
        MIGRATION_MODULES={label: None for label in ("ecom_ai", "shop", "auth", "contenttypes", "sessions", "admin")},
        ECOM_AI=ecom_ai,
        LOGGING_CONFIG=None,
    )
    settings.configure(**conf)
    django.setup()


def create_schema() -> None:
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)


def fill_table(target_rows: int, final_rows: int | None = None) -> float:
    """Grow ecom_ai_event to ``target_rows`` rows with generated SQL; returns seconds spent.

    Rows are spread over the last 365 days in insertion order (row ``final_rows`` is "now"),
    as an append-only events table is.
    """
    from django.db import connection

    from ecom_ai.models import Event

    missing = target_rows - Event.objects.count()
    if missing <= 0:
        return 0.0
    final_rows = max(final_rows or target_rows, target_rows)
    spread = 31_536_000 / final_rows  # seconds between consecutive rows
    started = time.perf_counter()
    columns = (
        "event_type, channel, visitor_key, user_key, item_key, quantity, value, context, client_time, "
        "occurred_at, received_at, client_event_id, source"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""
                INSERT INTO ecom_ai_event ({columns})
                SELECT (ARRAY['view','view','view','click','add_to_cart','purchase','search'])[1 + (x %% 7)],
                       (ARRAY['web','web','app','store','email'])[1 + (x %% 5)],
                       md5((x / 20)::text), CASE WHEN x %% 3 = 0 THEN ((x / 60) %% 200000)::text ELSE '' END,
                       ((x * 7919) %% 20000)::text, NULL, NULL, '{{}}'::jsonb, NULL,
                       now() - make_interval(secs => (%s - x) * %s), now(), md5(x::text || 'f'), 'bench-fill'
                FROM generate_series(%s::bigint, %s::bigint) AS x""",
                [final_rows, spread, target_rows - missing + 1, target_rows],
            )
            cursor.execute("ANALYZE ecom_ai_event")
        else:
            cursor.execute(
                f"""
                WITH RECURSIVE n(x) AS (SELECT %s UNION ALL SELECT x + 1 FROM n WHERE x < %s)
                INSERT INTO ecom_ai_event ({columns})
                SELECT CASE x %% 7 WHEN 0 THEN 'click' WHEN 1 THEN 'add_to_cart' WHEN 2 THEN 'purchase'
                                  WHEN 3 THEN 'search' ELSE 'view' END,
                       CASE x %% 5 WHEN 0 THEN 'app' WHEN 1 THEN 'store' WHEN 2 THEN 'email' ELSE 'web' END,
                       hex(randomblob(16)), CASE WHEN x %% 3 = 0 THEN CAST((x / 60) %% 200000 AS TEXT) ELSE '' END,
                       CAST((x * 7919) %% 20000 AS TEXT), NULL, NULL, '{{}}', NULL,
                       datetime('now', '-' || CAST((%s - x) * %s AS INTEGER) || ' seconds'), datetime('now'),
                       hex(randomblob(16)), 'bench-fill'
                FROM n""",
                [target_rows - missing + 1, target_rows, final_rows, spread],
            )
    return time.perf_counter() - started


def make_batches(total: int, batch_size: int, seed: str) -> list[list[dict]]:
    """Realistic server-to-server events: 20 events per visitor, a third identified, some purchases."""
    events = []
    for i in range(total):
        visitor = f"{seed}-v{i // 20}"
        event = {
            "event_type": ("view", "view", "click", "add_to_cart", "purchase")[i % 5],
            "visitor_key": visitor,
            "item_key": str((i * 7919) % 20000),
            "client_event_id": f"{seed}-{i}",
            "context": {"page": f"/p/{i % 500}/", "ab": "b"},
        }
        if i % 3 == 0:
            event["user_key"] = str(i // 60)
        if event["event_type"] == "purchase":
            event.update(quantity=1 + i % 3, value=f"{(i % 9000) / 100 + 1:.2f}")
        events.append(event)
    return [events[i : i + batch_size] for i in range(0, total, batch_size)]


def timed(batches, send) -> float:
    send(batches[0])  # warm-up batch, not counted
    started = time.perf_counter()
    for batch in batches[1:]:
        send(batch)
    return time.perf_counter() - started


def endpoint_sender(mode: str, raw_key: str, batch_size: int):
    """A function that POSTs one batch through the test client or to a real WSGI server."""
    if mode == "client":
        from django.test import Client

        client = Client()

        def send(batch):
            body = json.dumps({"events": batch})
            response = client.generic(
                "POST", PATH, body, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {raw_key}"
            )
            if response.status_code != 201:
                raise RuntimeError(f"endpoint answered {response.status_code}: {response.content[:300]!r}")

        return send, None

    import http.client
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=WSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]

    def send(batch):
        body = json.dumps({"events": batch}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request(
            "POST",
            PATH,
            body,
            {
                "Content-Type": "application/json",
                "Authorization": f"Api-Key {raw_key}",
                "Content-Length": str(len(body)),
            },
        )
        response = conn.getresponse()
        content = response.read()
        conn.close()
        if response.status != 201:
            raise RuntimeError(f"endpoint answered {response.status}: {content[:300]!r}")

    return send, server


def raw_sender():
    from django.db import transaction

    from ecom_ai.models import Event

    def send(batch):
        now_rows = []
        for e in batch:
            now_rows.append(
                Event(
                    event_type=e["event_type"],
                    channel="app",
                    visitor_key=e["visitor_key"],
                    user_key=e.get("user_key", ""),
                    item_key=e["item_key"],
                    quantity=e.get("quantity"),
                    value=e.get("value"),
                    context=e["context"],
                    client_event_id=e["client_event_id"],
                    source="bench-raw",
                )
            )
        with transaction.atomic():
            Event.objects.bulk_create(now_rows)

    return send


def run_child(args) -> list[dict]:
    if args.db == "postgres":
        import psycopg

        name = f"ecom_ai_bench_{os.getpid()}"
        admin = psycopg.connect(
            dbname="postgres",
            user=os.environ.get("PGUSER", "postgres"),
            host=os.environ.get("PGHOST", "127.0.0.1"),
            autocommit=True,
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        tmpdir = None
    else:
        tmpdir = tempfile.mkdtemp(prefix="ecom_ai_bench_")
        name = os.path.join(tmpdir, "bench.sqlite3")
        admin = None
    try:
        setup_django(args.db, name, args.batch_size)
        return measure(args)
    finally:
        from django.db import connections

        connections.close_all()
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        if tmpdir:
            for file in Path(tmpdir).iterdir():
                file.unlink()
            os.rmdir(tmpdir)


def measure(args) -> list[dict]:
    from django.db import connection

    from ecom_ai.models import ChannelKey, Event

    create_schema()
    from ecom_ai.signals import events_recorded

    receivers = [str(r[1]() if callable(r[1]) else r[1]) for r in events_recorded.receivers]
    print(
        f"# events_recorded receivers: {len(receivers)}" + (" (disconnected)" if args.without_receivers else ""),
        file=sys.stderr,
    )
    if args.without_receivers:
        events_recorded.receivers = []
        events_recorded.sender_receivers_cache.clear()
    key, raw_key = ChannelKey.create_with_key(name="bench", channel="app")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # what a production SQLite deployment would use
            cursor.execute("PRAGMA journal_mode=WAL")
    steps = sorted({0, *(s for s in (args.grow_to // 10, args.grow_to // 2, args.grow_to) if s > 0)})
    senders = {}
    results = []
    for step, size in enumerate(steps):
        fill_seconds = fill_table(size, args.grow_to)
        before = Event.objects.count() if size < 200_000 or connection.vendor == "sqlite" else size
        row = {
            "db": connection.vendor,
            "rows_before": before,
            "fill_s": round(fill_seconds, 1),
            "events": args.events,
            "batch": args.batch_size,
        }
        # modes take turns over several rounds, so that load from elsewhere hits all of them alike
        seconds = dict.fromkeys(args.modes, 0.0)
        per_round = max(args.batch_size, args.events // args.rounds)
        for round_no in range(args.rounds):
            for mode in args.modes:
                seed = f"s{step}r{round_no}{mode}{uuid.uuid4().hex[:6]}"
                batches = make_batches(per_round + args.batch_size, args.batch_size, seed)
                if mode == "raw":
                    send = raw_sender()
                else:
                    if mode not in senders:
                        senders[mode] = endpoint_sender(mode, raw_key, args.batch_size)
                    send = senders[mode][0]
                if args.profile and mode == "client" and step == 0 and round_no == 0:
                    profile(send, batches)
                seconds[mode] += timed(batches, send)
        row["events"] = per_round * args.rounds
        for mode in args.modes:
            row[mode] = round(row["events"] / seconds[mode])
        results.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    for _send, server in senders.values():
        if server is not None:
            server.shutdown()
            server.server_close()
    return results


def profile(send, batches) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for batch in batches[:10]:
        send(batch)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
    stats.print_stats(40)


# --- parent: runs one child per database and prints the table ----------------------------


def print_table(rows: list[dict], modes: list[str]) -> None:
    header = ["db", "table rows before", "events", "batch"] + [f"{m} ev/s" for m in modes]
    header += [f"{m} / raw" for m in modes if m != "raw" and "raw" in modes]
    lines = [header]
    for row in rows:
        line = [row["db"], f"{row['rows_before']:,}", f"{row['events']:,}", str(row["batch"])]
        line += [f"{row[m]:,}" for m in modes]
        line += [f"{row[m] / row['raw']:.0%}" for m in modes if m != "raw" and "raw" in modes]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines[1:]:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(line, widths)) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=20_000, help="events stored per path and table size")
    parser.add_argument("--batch-size", type=int, default=500, help="events per request / bulk_create")
    parser.add_argument(
        "--grow-to",
        type=int,
        default=2_000_000,
        help="pre-fill the table up to this many rows, measuring at 0, 10%%, 50%% and 100%%",
    )
    parser.add_argument("--modes", default="http,client,raw", help="comma-separated: http, client, raw")
    parser.add_argument("--rounds", type=int, default=4, help="the modes take turns this many times per size")
    parser.add_argument(
        "--without-receivers",
        action="store_true",
        help="disconnect the receivers of ecom_ai.signals.events_recorded (other areas' work on "
        "each stored batch) to measure ingestion alone",
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the endpoint (client mode)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if set(args.modes) - {"http", "client", "raw"} or not args.modes:
        parser.error("--modes takes http, client and/or raw")
    if args.events < 1 or args.batch_size < 1 or args.grow_to < 0 or args.rounds < 1:
        parser.error("--events and --batch-size must be positive, --grow-to not negative")

    if args.child:
        print(json.dumps(run_child(args)))
        return 0

    rows = []
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        command = [
            sys.executable,
            __file__,
            "--child",
            "--db",
            db,
            "--events",
            str(args.events),
            "--batch-size",
            str(args.batch_size),
            "--grow-to",
            str(args.grow_to),
            "--modes",
            ",".join(args.modes),
            "--rounds",
            str(args.rounds),
        ]
        command += ["--without-receivers"] if args.without_receivers else []
        command += ["--profile"] if args.profile else []
        print(f"# {db}: measuring ...", file=sys.stderr, flush=True)
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            print(f"# {db}: failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    print_table(rows, args.modes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
