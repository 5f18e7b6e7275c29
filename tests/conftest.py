"""Fixtures shared by the whole suite. Keep each fixture small and documented."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.workers import CeleryWorker


@pytest.fixture(autouse=True)
def forget_loaded_models():
    """Models a test activated live in this process's memory; their rows are rolled back after
    the test, so the next test must not serve (and reference) them."""
    from ecom_ai.ml.registry import clear_loaded_models

    clear_loaded_models()
    yield
    clear_loaded_models()


# tests/oscar_shop is a second host shop with its own settings, run as its own pytest
# invocation (`make test`: pytest --ds=tests.oscar_shop.settings tests/oscar_shop)
OSCAR_SETTINGS = "tests.oscar_shop.settings"
collect_ignore_glob = [] if os.environ.get("DJANGO_SETTINGS_MODULE") == OSCAR_SETTINGS else ["oscar_shop/*"]


# --- a real Celery worker over Redis ---------------------------------------------------------
@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup):
    """One real ``celery worker`` subprocess per test session (``--pool=solo``).

    It runs ``tests.celery_app`` against the SAME test database as the tests (SQLite on a
    file, or PostgreSQL) and consumes queues unique to this session. Yields a dict with the
    ``app`` (the tests' Celery app) and the ``queue``/``training_queue`` names.
    """
    from django.db import connection

    from tests import celery_app

    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    queue, training_queue = f"ecom_ai_test_{suffix}", f"ecom_ai_training_test_{suffix}"
    worker = CeleryWorker(str(connection.settings_dict["NAME"]), queue, training_queue, stop_timeout=15)
    try:
        worker.wait_ready(celery_app.ping.apply_async(queue=queue), timeout=60)
        yield {"app": celery_app.app, "queue": queue, "training_queue": training_queue, "log": worker.log_path}
    finally:
        worker.stop()
        for name in (queue, training_queue):
            with celery_app.app.connection_for_write() as conn:
                conn.default_channel.queue_delete(name)


@pytest.fixture
def celery_worker(celery_worker_process, transactional_db, settings):
    """Use in a test to send ecom_ai tasks to the real worker.

    Sets ``TASK_MODE = "celery"`` and this session's queues, and makes the tests' Celery app
    the current app (so ``ecom_ai.tasks.dispatch`` publishes to Redis); restores both after.
    Needs ``transactional_db``: the worker only sees committed rows.
    """
    from celery import _state

    settings.ECOM_AI = {
        **getattr(settings, "ECOM_AI", {}),
        "TASK_MODE": "celery",
        "TASK_QUEUE": celery_worker_process["queue"],
        "TRAINING_QUEUE": celery_worker_process["training_queue"],
    }
    previous = _state._tls.current_app
    celery_worker_process["app"].set_current()
    try:
        yield celery_worker_process
    finally:
        _state._tls.current_app = previous


# --- a real headless browser (Debian's Chromium, driven by Playwright) ---------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser(live_server, monkeypatch):
    """A headless Chromium for tests marked ``browser``; the sandbox runs on ``live_server``."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from django.db import connections

    # Playwright's sync API runs an event loop in this thread; the ORM calls stay synchronous
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    connections.close_all()  # ORM calls under Playwright's greenlet opened a connection of their own


def _new_page(context):
    page = context.new_page()
    page.set_default_timeout(15000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return page


@pytest.fixture
def page(browser):
    """A fresh page (no cookies) whose uncaught JS errors collect in ``page.js_errors``."""
    return _new_page(browser.new_context())


@pytest.fixture
def staff_page(browser, live_server, django_user_model):
    """A page logged in as a superuser ``admin`` (session cookie set on the live server)."""
    from django.test import Client

    admin = django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    client = Client()
    client.force_login(admin)
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return _new_page(context)
