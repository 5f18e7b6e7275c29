"""Warm the chat up at process start, in a background thread: never in a shopper's request.

What the first message would otherwise pay for (seconds): loading the sentence encoder,
loading the active intent model (or training the in-process one on the current examples),
embedding the knowledge base and the catalog, and classifying the articles' questions for
the ranker. ``start_warm_up()`` is called from ``AppConfig.ready()`` when
``CHAT_WARM_UP`` is on and the process serves requests (``runserver``, gunicorn, uWSGI,
daphne/uvicorn…, or any process with ``ECOM_AI_CHAT_WARM_UP=1``) — not in management
commands, Celery workers (not even with that variable), tests or scripts. ``warm_up()`` can be
called directly (a deployment script, a health check).

Forking servers: a process that forks must not have the warm-up's thread (torch, database
connections) running in it — the child would inherit locks held mid-way. So the thread waits
``FORK_GRACE_SECONDS`` before it starts; if the process forks in that time (gunicorn
``--preload`` and uWSGI masters fork their workers right after loading the app) the parent's
warm-up is cancelled and every forked child starts its own. A fork after the warm-up started
waits (at most ``FORK_WAIT_SECONDS``) for it to finish first.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

logger = logging.getLogger(__name__)

FORK_GRACE_SECONDS = 2.0
FORK_WAIT_SECONDS = 60.0

_started = threading.Event()
_done = threading.Event()
_cancelled = threading.Event()  # this process forked before its warm-up began: the children warm up
_running = threading.Event()
_SERVERS = ("gunicorn", "uwsgi", "daphne", "uvicorn", "hypercorn", "waitress-serve", "mod_wsgi", "granian")


def serving_process(argv: list[str] | None = None, environ=None) -> bool:
    """Does this process answer web requests? ``manage.py runserver`` and the usual WSGI/ASGI
    servers do; management commands, Celery workers, test runners, scripts and shells do not.
    ``ECOM_AI_CHAT_WARM_UP=1`` in the environment says yes for any other server."""
    argv = list(sys.argv if argv is None else argv)
    environ = os.environ if environ is None else environ
    program = os.path.basename(argv[0]) if argv else ""
    if program.startswith("celery") or (len(argv) > 2 and argv[1] == "-m" and argv[2] == "celery"):
        return False  # a worker (its prefork parent forks): it never answers the chat
    if environ.get("ECOM_AI_CHAT_WARM_UP") in ("1", "true", "yes"):
        return True
    if program.endswith("manage.py") or program in ("django-admin", "django-admin.py"):
        if len(argv) < 2 or argv[1] != "runserver":
            return False
        # the autoreloader's parent process only watches files
        return environ.get("RUN_MAIN") == "true" or "--noreload" in argv
    return any(program == name or program.startswith(name) for name in _SERVERS)


def warm_up() -> dict:
    """Load the classifier and build the chat's indexes now; returns what it did (seconds)."""
    from django.db import close_old_connections, connection

    from ecom_ai.chat import retrieval
    from ecom_ai.chat.service import article_intents, current_classifier

    timings: dict = {}
    started = time.perf_counter()
    try:
        classifier = current_classifier()
        timings["classifier"] = round(time.perf_counter() - started, 2)
        if classifier is not None:
            vector = classifier.encode(["hello"])[0]
            retrieval.knowledge_matches(vector, classifier.encoder, limit=1)
            article_intents(classifier)
            timings["knowledge_base"] = round(time.perf_counter() - started - timings["classifier"], 2)
        retrieval.product_titles()
        try:
            from ecom_ai.chat import catalog_search

            catalog_search.search("hello", "en", limit=1, encoder=classifier.encoder if classifier else None)
        except Exception:  # the catalog is a bonus of the warm-up
            logger.debug("Chat warm-up: catalog search not warmed", exc_info=True)
        timings["total"] = round(time.perf_counter() - started, 2)
        logger.info("Chat warmed up: %s", timings)
        return timings
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()
        else:
            close_old_connections()


def _run(delay: float) -> None:
    from django.apps import apps

    deadline = time.monotonic() + 60
    while not apps.ready and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(max(delay, FORK_GRACE_SECONDS))
    if _cancelled.is_set():  # the process forked meanwhile: its children warm themselves up
        _done.set()
        return
    _running.set()
    try:
        warm_up()
    except Exception as exc:  # no tables yet, database down...: the first message will do it
        logger.warning(
            "Chat warm-up failed (%s: %s); the first message will load the chat's models", type(exc).__name__, exc
        )
    finally:
        _running.clear()
        _done.set()


def _before_fork() -> None:
    """In the parent, just before ``os.fork()``: no warm-up thread mid-way in a forking process."""
    if not _started.is_set() or _done.is_set():
        return
    if _running.is_set():
        _done.wait(FORK_WAIT_SECONDS)
    else:
        _cancelled.set()


def _after_fork_in_child() -> None:
    """In a forked child: fresh state; it warms itself up when its parent meant to but did not
    (a parent that had finished passes its warm caches on to the child)."""
    global _started, _done, _cancelled, _running
    meant = _started.is_set() and (_cancelled.is_set() or not _done.is_set())
    _started, _done, _cancelled, _running = (threading.Event() for _ in range(4))
    if meant:
        start_warm_up()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def start_warm_up(delay: float = 0.0) -> bool:
    """Start ``warm_up()`` in a daemon thread, once per process; True when started."""
    if _started.is_set():
        return False
    _started.set()
    threading.Thread(target=_run, args=(delay,), name="ecom-ai-chat-warm-up", daemon=True).start()
    return True


def wait(timeout: float | None = None) -> bool:
    """Block until a started warm-up has finished (tests, benchmarks)."""
    return _done.wait(timeout)
