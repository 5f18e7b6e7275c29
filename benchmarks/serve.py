#!/usr/bin/env python
"""Serving speed: the recommendations endpoint against a trivial DRF endpoint, same server, same run.

    .venv/bin/python benchmarks/serve.py --workers 2 --concurrency 8 --seconds 20

1. Creates a throwaway PostgreSQL database ``ecom_ai_serve_<pid>`` (``--db sqlite``: a
   temporary SQLite file instead), migrates it, seeds the sandbox shop (``sandbox_seed``)
   and trains the ``cooccurrence`` and ``recommender`` models (so the home placement is
   served by our sequential model, from each visitor's own recent events).
2. Starts the sandbox under **gunicorn** (``--workers`` sync workers) on 127.0.0.1 with
   ``benchmarks/serving/settings.py`` (DEBUG off, no throttle) — the sandbox's URLs plus
   ``/ping/``, a DRF view that returns ``{"ok": true}`` through the same middleware.
3. A bounded load generator (this script's own client: ``--concurrency`` threads, one
   request at a time each, new connection per request — gunicorn's sync workers close
   them) runs ``--seconds`` against ``/ping/``, then against
   ``/ecom-ai/api/v1/recommendations/?placement=home`` with the visitor cookie of a
   seeded shopper that has history (a different one per request, round robin), then
   ``/ping/`` again. It reports requests/s, p50 and p99 latency and errors per endpoint,
   and which strategies served the lists.

The server's Django cache is Redis (``--cache redis``, the default: production deployments
run one, and the shoppers' history cache only works with a shared cache; this run's keys
carry their own prefix and are deleted at the end) or ``--cache locmem``. The load
generator's 200 shoppers send no new events during the run, so after a shopper's first
list in a worker the next ones come from the list cache (the repeat visits of a shop);
``--cold`` adds a second step with the history and list caches off, where every list is
computed from the event log, as when each request follows a new event of its shopper.

The database is dropped at the end. The client shares the machine's CPUs with the server,
equally for both endpoints.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PING = "/ping/"
RECS = "/ecom-ai/api/v1/recommendations/?placement=home"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(db: str, name: str, sqlite_path: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="benchmarks.serving.settings",
        SANDBOX_DEBUG="0",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "sandbox_shop")]),
    )
    env.pop("REDIS_URL", None)
    if db == "postgres":
        env.update(SANDBOX_DB="postgres", PGDATABASE=name)
    else:
        env.update(SANDBOX_DB="sqlite", SANDBOX_SQLITE=sqlite_path)
    return env


def manage(env, *args):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(ROOT / "sandbox_shop" / "manage.py"), *args],
        env=env,
        cwd=str(ROOT / "sandbox_shop"),
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"  manage.py {' '.join(args)}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return done.stdout


def visitors_with_history(env, count: int) -> list[str]:
    # the visitor cookie is signed (VisitorMiddleware): sign the keys as the server would
    code = (
        "import django, json; django.setup(); from ecom_ai.models import Event; from django.db.models import Count;"
        "from django.core import signing; from ecom_ai.conf import settings as s; from ecom_ai.events.middleware import SALT;"
        "signer = signing.get_cookie_signer(salt=s.VISITOR_COOKIE_NAME + SALT);"
        f"rows = Event.objects.exclude(visitor_key='').exclude(item_key='').values('visitor_key')"
        f".annotate(n=Count('id')).filter(n__gte=3).order_by('-n').values_list('visitor_key', flat=True)[:{count}];"
        "print(json.dumps([signer.sign(k) for k in rows]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=str(ROOT / "sandbox_shop"),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


PROFILE_CODE = """
import cProfile, pstats, sys, django
django.setup()
from django.test import Client
from ecom_ai.conf import settings as s
cookies = sys.argv[1].split(",")
client = Client()
def run(n):
    for i in range(n):
        client.cookies[s.VISITOR_COOKIE_NAME] = cookies[i % len(cookies)]
        assert client.get("RECS_PATH").status_code == 200
run(len(cookies))  # every shopper's first list (with the caches on, the profiled ones are repeat visits)
profile = cProfile.Profile()
profile.enable()
run(200)
profile.disable()
pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
pstats.Stats(profile).sort_stats("tottime").print_stats(30)
from django.db import connection
statements = []
with connection.execute_wrapper(lambda execute, sql, *a: statements.append(sql.split()[0]) or execute(sql, *a)):
    run(50)
from collections import Counter
print(f"SQL statements per request (50 requests): {len(statements) / 50:.2f}", dict(Counter(statements)))
""".replace("RECS_PATH", RECS)


def profile_in_process(env, cookies):
    """Where one recommendations request spends its time (cProfile of 200 requests, test client)."""
    done = subprocess.run(
        [sys.executable, "-c", PROFILE_CODE, ",".join(cookies[:50])],
        env=env,
        cwd=str(ROOT / "sandbox_shop"),
        capture_output=True,
        text=True,
    )
    print(done.stdout[-12000:], done.stderr[-3000:], file=sys.stderr)


def wait_for(port: int, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", PING)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /ping/ in time")


def load(port: int, path: str, seconds: float, concurrency: int, cookies=(), warmup: int = 50) -> dict:
    """``concurrency`` threads issue requests back to back for ``seconds``."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    strategies: Counter = Counter()
    lock = threading.Lock()
    counter = [0]

    def one(cookie):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Cookie": f"ecom_ai_vid={cookie}"} if cookie else {}
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            status = response.status
        except OSError as exc:
            status, body = f"error {type(exc).__name__}", b""
        finally:
            conn.close()
        return status, time.perf_counter() - started, body

    warm_ok = 0
    # warm every worker (model loading, caches) and give each shopper a first list: the
    # measured requests are then repeat visits (or, with the caches off, computed lists)
    for i in range(max(warmup, len(cookies))):
        warm_ok += one(cookies[i % len(cookies)] if cookies else None)[0] == 200

    def worker():
        while time.monotonic() < stop:
            with lock:
                counter[0] += 1
                cookie = cookies[counter[0] % len(cookies)] if cookies else None
            status, elapsed, body = one(cookie)
            strategy = None
            if status == 200 and path.startswith("/ecom-ai/"):
                try:
                    strategy = json.loads(body).get("strategy")
                except ValueError:
                    strategy = "unparsable"
            with lock:
                latencies.append(elapsed)
                statuses[status] += 1
                if strategy:
                    strategies[strategy] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    stop = started + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    latencies.sort()

    def pct(p):
        return 1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    ok = statuses.get(200, 0)
    return {
        "path": path,
        "requests": len(latencies),
        "ok": ok,
        "errors": len(latencies) - ok,
        "statuses": {str(k): v for k, v in statuses.items()},
        "rps": ok / wall,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "strategies": dict(strategies),
        "warmup_ok": warm_ok,
    }


class Server:
    def __init__(self, process, port):
        self.process, self.port = process, port
        self.log_worker = None  # --log-mode queue: the ecom_ai_log_worker process


def start_log_worker(env, nice: int = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "sandbox_shop" / "manage.py"), "ecom_ai_log_worker"],
        env=env,
        cwd=str(ROOT / "sandbox_shop"),
        stdout=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )


def queue_length(env) -> int:
    import redis

    client = redis.Redis.from_url(env.get("ECOM_AI_SERVE_REDIS", "redis://127.0.0.1:6379/0"))
    return client.llen(env["ECOM_AI_SERVE_CACHE_PREFIX"] + ":served_lists")


def start_server(env, workers: int) -> Server:
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "sandbox.wsgi:application",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "60",
        ],
        env=env,
        cwd=str(ROOT / "sandbox_shop"),
    )
    wait_for(port)
    return Server(process, port)


def stop_server(server: Server, env=None) -> None:
    """Stop gunicorn, then the log worker once the queue is empty."""
    server.process.terminate()  # a graceful stop: workers write their buffered lists at exit
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()
    if server.log_worker is None:
        return
    started = time.monotonic()
    while env is not None and queue_length(env) and time.monotonic() - started < 120:
        time.sleep(0.05)
    server.log_worker.terminate()  # finishes its batch, then exits
    try:
        server.log_worker.wait(30)
    except subprocess.TimeoutExpired:
        server.log_worker.kill()


def stored_counts(db: str, name: str, sqlite_path: str) -> tuple[int, int]:
    """(served lists, impression events) stored in the benchmark's database now."""
    sql = (
        "SELECT (SELECT count(*) FROM ecom_ai_recommendationlist), "
        "(SELECT count(*) FROM ecom_ai_event WHERE event_type = 'impression')"
    )
    if db == "postgres":
        import psycopg

        with psycopg.connect(
            dbname=name, user=os.environ.get("PGUSER", "postgres"), host=os.environ.get("PGHOST", "127.0.0.1")
        ) as conn:
            return tuple(conn.execute(sql).fetchone())
    import sqlite3

    with sqlite3.connect(sqlite_path) as conn:
        return tuple(conn.execute(sql).fetchone())


def clear_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(os.environ.get("ECOM_AI_SERVE_REDIS", "redis://127.0.0.1:6379/0"))
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint and round")
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--no-impressions",
        action="store_true",
        help="RECOMMEND_LOG_IMPRESSIONS off (no impression event written per list)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="first print a cProfile of 200 in-process requests (after every shopper had a first list)",
    )
    parser.add_argument(
        "--log-mode",
        choices=("buffered", "sync", "queue"),
        default=None,
        help="RECOMMEND_LOG_MODE (default: ecom_ai's default); queue: the run's own Redis queue and "
        "`manage.py ecom_ai_log_worker` running beside gunicorn on the same machine",
    )
    parser.add_argument(
        "--log-worker-nice",
        type=int,
        default=0,
        help="--log-mode queue: run the log worker at this nice level (background work, as a "
        "deployment may choose); its backlog when the load ends is reported",
    )
    parser.add_argument(
        "--log-flush-seconds",
        type=float,
        default=None,
        help="RECOMMEND_LOG_FLUSH_SECONDS (the buffered thread's and the log worker's interval)",
    )
    parser.add_argument(
        "--facts-seconds",
        type=float,
        default=None,
        help="RECOMMEND_ITEM_FACTS_CACHE_SECONDS (0 = no item facts cache; default: ecom_ai's)",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="CONN_MAX_AGE of the server's database connection (0 = a new one per request)",
    )
    parser.add_argument(
        "--cache",
        choices=("redis", "locmem"),
        default="redis",
        help="Django's cache in the server: Redis (as production runs; the shoppers' history cache "
        "needs a shared cache) or the per-process LocMem of a bare project (history and list "
        "caches then off)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also measure with the history and list caches off: every list computed from the "
        "event log, as when each request follows a new event of its shopper",
    )
    parser.add_argument(
        "--ladder",
        action="store_true",
        help="measure the serving changes one by one on the same data: all off (sync log, no "
        "facts cache, a connection per request), + CONN_MAX_AGE, + facts cache, + buffered log",
    )
    args = parser.parse_args(argv)

    name = f"ecom_ai_serve_{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="ecom_ai_serve_")
    env = environment(args.db, name, os.path.join(tmp, "db.sqlite3"))
    env["ECOM_AI_SERVE_MEDIA"] = tmp
    env["ECOM_AI_SERVE_IMPRESSIONS"] = "0" if args.no_impressions else "1"
    env["ECOM_AI_SERVE_CACHE"] = args.cache
    env["ECOM_AI_SERVE_CACHE_PREFIX"] = name  # this run's own keys (deleted at the end)
    if args.ladder:
        steps = [
            (
                "before",
                {
                    "ECOM_AI_SERVE_LOG_MODE": "sync",
                    "ECOM_AI_SERVE_FACTS_SECONDS": "0",
                    "ECOM_AI_SERVE_CONN_MAX_AGE": "0",
                },
            ),
            ("+conn_max_age", {"ECOM_AI_SERVE_LOG_MODE": "sync", "ECOM_AI_SERVE_FACTS_SECONDS": "0"}),
            ("+facts cache", {"ECOM_AI_SERVE_LOG_MODE": "sync"}),
            ("+buffered log", {}),
        ]
    else:
        step = {"ECOM_AI_SERVE_CONN_MAX_AGE": str(args.conn_max_age)}
        if args.log_mode:
            step["ECOM_AI_SERVE_LOG_MODE"] = args.log_mode
        if args.log_flush_seconds is not None:
            step["ECOM_AI_SERVE_LOG_FLUSH_SECONDS"] = repr(args.log_flush_seconds)
        if args.facts_seconds is not None:
            step["ECOM_AI_SERVE_FACTS_SECONDS"] = repr(args.facts_seconds)
        steps = [("", step)]
        if args.cold:
            steps.append(("cold", {**step, "ECOM_AI_SERVE_HISTORY_CACHE": "off"}))
    admin = None
    server = None
    try:
        if args.db == "postgres":
            import psycopg

            admin = psycopg.connect(
                dbname="postgres",
                user=os.environ.get("PGUSER", "postgres"),
                host=os.environ.get("PGHOST", "127.0.0.1"),
                autocommit=True,
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        print(f"setting up the sandbox ({args.db})...", file=sys.stderr, flush=True)
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(
            env,
            "sandbox_seed",
            "--products",
            str(args.products),
            "--customers",
            str(args.customers),
            "--days",
            str(args.days),
            "--no-fraud",
        )
        manage(env, "ecom_ai_train", "cooccurrence")
        manage(env, "ecom_ai_train", "recommender")
        cookies = visitors_with_history(env, 200)
        if not cookies:
            raise SystemExit("the seeded shop has no visitors with history")
        rows = []
        for step_name, step_env in steps:
            if args.profile:
                profile_in_process({**env, **step_env}, cookies)
            before = stored_counts(args.db, name, os.path.join(tmp, "db.sqlite3"))
            server = start_server({**env, **step_env}, args.workers)
            if step_env.get("ECOM_AI_SERVE_LOG_MODE") == "queue":
                server.log_worker = start_log_worker({**env, **step_env}, args.log_worker_nice)
            for label, path, who in (
                ("ping", PING, ()),
                ("recommendations", RECS, cookies),
                ("ping (again)", PING, ()),
            ):
                print(f"{step_name} loading {path} for {args.seconds:.0f} s...", file=sys.stderr, flush=True)
                row = load(server.port, path, args.seconds, args.concurrency, cookies=who)
                row["endpoint"] = label
                row["step"] = step_name
                row["load_average"] = os.getloadavg()[0]
                if server.log_worker is not None and label == "recommendations":
                    row["queue_waiting"] = queue_length({**env, **step_env})  # the worker's backlog then
                rows.append(row)
            stop_server(server, {**env, **step_env})
            server = None
            # every list served must be stored, buffered or not, once the workers stopped normally
            after = stored_counts(args.db, name, os.path.join(tmp, "db.sqlite3"))
            served = sum(
                r["ok"] + r["warmup_ok"] for r in rows if r["step"] == step_name and r["endpoint"] == "recommendations"
            )
            rows[-2]["stored"] = {"served": served, "lists": after[0] - before[0], "impressions": after[1] - before[1]}
    finally:
        if server is not None:
            stop_server(server)
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if args.cache == "redis":
            clear_redis_prefix(name)

    print(
        f"gunicorn {args.workers} sync workers, {args.db}, {args.concurrency} client threads, "
        f"{args.seconds:.0f} s per endpoint; {os.cpu_count()} CPUs shared by server and client; "
        f"impression events {'off' if args.no_impressions else 'on'}; cache {args.cache}"
    )
    header = f"{'step':<14} {'endpoint':<17} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'load':>5}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['step']:<14} {r['endpoint']:<17} {r['requests']:>8} {r['errors']:>6} {r['rps']:>8.1f} "
            f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['load_average']:>5.2f}"
        )
    for step_name, _ in steps:
        mine = [r for r in rows if r["step"] == step_name]
        ping_rps = max(r["rps"] for r in mine if r["endpoint"].startswith("ping"))
        ping_p99 = min(r["p99_ms"] for r in mine if r["endpoint"].startswith("ping"))
        recs = next(r for r in mine if r["endpoint"] == "recommendations")
        print(
            f"{step_name + ': ' if step_name else ''}recommendations: {recs['rps'] / ping_rps:.2f} x ping's "
            f"throughput (target >= 0.5), p99 {recs['p99_ms'] / ping_p99:.2f} x ping's best p99 (target <= 2); "
            f"strategies served: {recs['strategies']}; statuses: {recs['statuses']}; stored after the stop: "
            f"{recs['stored']['lists']} lists, {recs['stored']['impressions']} impressions for "
            f"{recs['stored']['served']} lists served"
            + (
                f"; {recs['queue_waiting']} lists waited in the log worker's queue when the load ended"
                if "queue_waiting" in recs
                else ""
            )
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
