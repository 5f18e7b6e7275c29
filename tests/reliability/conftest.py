"""Helpers of the fault tests: a dead cache, sandbox orders, a redis-server of the test's own."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from tests.sandbox_orders import new_order, new_product


def free_port() -> int:
    """A TCP port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_cache_settings(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.fixture(autouse=True)
def _forget_cache_outages():
    from ecom_ai.resilient_cache import reset

    reset()
    yield
    reset()


@pytest.fixture
def dead_cache(settings):
    """The default cache is a Redis server that is not running (connections are refused)."""
    settings.CACHES = redis_cache_settings(free_port())
    return settings.CACHES


class RedisServer:
    """A ``redis-server`` subprocess of the test's own (never the shared server): no
    persistence, on a free port; ``kill()`` (SIGKILL) and ``start()`` again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def redis_server():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def product(db):
    return new_product("Rel ", stock=100000)


@pytest.fixture
def make_order(db, product):
    """A sandbox order (one line), without sending order_placed."""
    return lambda **fields: new_order(product, **fields)


# --- PostgreSQL connection kills ---------------------------------------------------------------
def _admin_connection():
    import psycopg
    from django.db import connection

    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        password=params["PASSWORD"] or None,
        autocommit=True,
    )


def terminate_backends(pids=None) -> int:
    """``pg_terminate_backend`` on the test database's other backends (or only ``pids``);
    returns how many were terminated."""
    with _admin_connection() as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            + (" AND pid = ANY(%s)" if pids is not None else ""),
            [list(pids)] if pids is not None else [],
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


postgres_only = pytest.mark.skipif(
    __import__("os").environ.get("ECOM_AI_TEST_DB") != "postgres", reason="kills PostgreSQL backends"
)
