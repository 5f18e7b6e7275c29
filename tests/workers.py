"""A real ``celery worker`` subprocess for tests (``--pool=solo``, its own queues and log).

Used by the suite's session worker (tests/conftest.py) and by the fault tests that start,
kill and restart workers of their own (tests/reliability). The worker runs
``tests.celery_app`` against the test database named by ``db_name`` (SQLite on a file, or
PostgreSQL): it only sees committed rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class CeleryWorker:
    """Starts at construction; ``stop()`` terminates it (kills it after ``stop_timeout``) and
    removes its log; ``tail()`` is the end of its log, for assertion messages."""

    def __init__(
        self,
        db_name: str,
        queue: str,
        training_queue: str,
        *,
        consume_training: bool = True,
        name: str = "test",
        env: dict | None = None,
        extra_settings: dict | None = None,
        stop_timeout: float = 20,
    ):
        suffix = uuid.uuid4().hex[:8]
        self.stop_timeout = stop_timeout
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ecom_ai_{name}_worker_{suffix}.log"
        worker_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "sandbox_shop"), os.environ.get("PYTHONPATH", "")]),
            "ECOM_AI_WORKER_DB_NAME": db_name,
            "ECOM_AI_WORKER_QUEUE": queue,
            "ECOM_AI_WORKER_TRAINING_QUEUE": training_queue,
            **(env or {}),
        }
        if extra_settings:
            worker_env["ECOM_AI_WORKER_EXTRA_SETTINGS"] = json.dumps(extra_settings)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.celery_app",
                "worker",
                "--pool=solo",
                "-Q",
                f"{queue},{training_queue}" if consume_training else queue,
                "-n",
                f"{name}_{suffix}@%h",
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=worker_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, ping, timeout: float) -> None:
        """``ping`` is an ``AsyncResult`` of ``tests.celery_app.ping`` sent to this worker's queue."""
        try:
            assert ping.get(timeout=timeout) == "pong"
        except Exception as exc:  # pragma: no cover - shows the worker's log
            tail = self.tail()
            self.stop()
            raise RuntimeError(f"the Celery worker did not start: {exc}\n{tail}") from exc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        self.log_path.unlink(missing_ok=True)

    def tail(self) -> str:
        return self.log_path.read_text()[-3000:] if self.log_path.exists() else ""
