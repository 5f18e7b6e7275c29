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
