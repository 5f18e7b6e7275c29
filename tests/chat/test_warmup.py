"""The chat warms up at process start, not in the first shopper's request."""

import pytest

from ecom_ai.chat import retrieval, warmup


@pytest.mark.parametrize(
    "argv, environ, serving",
    [
        (["gunicorn", "shop.wsgi"], {}, True),
        (["/venv/bin/uwsgi", "--ini", "x.ini"], {}, True),
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, True),
        (["manage.py", "runserver"], {}, False),  # the autoreloader's watcher
        (["manage.py", "runserver", "--noreload"], {}, True),
        (["manage.py", "migrate"], {}, False),
        (["manage.py"], {}, False),
        (["/venv/bin/celery", "-A", "shop", "worker"], {}, False),
        (["/venv/bin/celery", "-A", "shop", "worker"], {"ECOM_AI_CHAT_WARM_UP": "1"}, False),  # prefork parent
        (["python", "-m", "celery", "worker"], {"ECOM_AI_CHAT_WARM_UP": "1"}, False),
        (["/venv/bin/pytest", "-q"], {}, False),
        (["-c"], {}, False),  # python -c
        ([""], {}, False),  # the interactive interpreter
        (["myscript.py"], {}, False),
        (["/usr/bin/daphne", "shop.asgi:application"], {}, True),
        (["my-server"], {"ECOM_AI_CHAT_WARM_UP": "1"}, True),
    ],
)
def test_only_serving_processes_warm_up(argv, environ, serving):
    assert warmup.serving_process(argv, environ) is serving


@pytest.mark.django_db
def test_warm_up_builds_what_the_first_message_needs(chat_pack, shop):
    retrieval.clear_indexes()
    timings = warmup.warm_up()
    assert "classifier" in timings and "knowledge_base" in timings
    signature, articles = retrieval.knowledge_snapshot()
    assert signature[0] is not None and len(articles) >= 11


def test_a_process_that_forks_right_after_start_leaves_the_warm_up_to_its_children(monkeypatch):
    """gunicorn --preload / uWSGI masters: the parent's warm-up is cancelled, a forked child warms up."""
    import threading

    calls = []
    monkeypatch.setattr(warmup, "warm_up", lambda: calls.append(threading.current_thread().name) or {})
    monkeypatch.setattr(warmup, "FORK_GRACE_SECONDS", 0.3)
    for name in ("_started", "_done", "_cancelled", "_running"):
        monkeypatch.setattr(warmup, name, threading.Event())
    assert warmup.start_warm_up()
    warmup._before_fork()  # what os.fork() runs in the parent
    assert warmup.wait(5) and calls == []  # the parent never warmed up
    warmup._after_fork_in_child()  # what the child runs after the fork
    assert warmup.wait(5) and calls == ["ecom-ai-chat-warm-up"]


def test_without_a_fork_the_warm_up_runs_after_the_grace_period(monkeypatch):
    import threading

    calls = []
    monkeypatch.setattr(warmup, "warm_up", lambda: calls.append(1) or {})
    monkeypatch.setattr(warmup, "FORK_GRACE_SECONDS", 0.05)
    for name in ("_started", "_done", "_cancelled", "_running"):
        monkeypatch.setattr(warmup, name, threading.Event())
    assert warmup.start_warm_up() and not warmup.start_warm_up()  # once per process
    assert warmup.wait(5) and calls == [1]
