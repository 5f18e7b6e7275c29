"""The Celery app of the test suite's real worker (see the ``celery_worker`` fixture).

ecom_ai never defines a Celery app; a host does, and so do the tests. The worker is
started by ``tests/conftest.py`` with environment variables that point it at the test
session's database and at queues of its own (so that test sessions running side by side on
the same Redis never take each other's tasks).
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from celery import Celery  # noqa: E402
from django.conf import settings  # noqa: E402

REDIS_URL = os.environ.get("ECOM_AI_TEST_REDIS", "redis://127.0.0.1:6379/15")
QUEUE = os.environ.get("ECOM_AI_WORKER_QUEUE", "ecom_ai")
TRAINING_QUEUE = os.environ.get("ECOM_AI_WORKER_TRAINING_QUEUE", "ecom_ai_training")


def configure_worker_django() -> None:
    """In the worker process: use the test session's database and queues, then set up Django."""
    db_name = os.environ.get("ECOM_AI_WORKER_DB_NAME")
    if db_name:
        settings.DATABASES["default"]["NAME"] = db_name
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = db_name
    settings.ECOM_AI = {
        **getattr(settings, "ECOM_AI", {}),
        "TASK_MODE": "celery",
        "TASK_QUEUE": QUEUE,
        "TRAINING_QUEUE": TRAINING_QUEUE,
        # ml: a toy model kind of its own for tests/ml/test_celery_training.py
        "RECOMMEND_LOG_QUEUE_URL": REDIS_URL,
        "TRAINERS": {
            **getattr(settings, "ECOM_AI", {}).get("TRAINERS", {}),
            "ml_worker_toy": "tests.ml.toy.ToyTrainer",
            # tests/reliability/test_killed_training_worker.py
            "ml_worker_blocking": "tests.reliability.blocking_trainer.BlockingTrainer",
        },
        # a test's own settings for its own worker (JSON), e.g. a short TRAINING_HEARTBEAT_TIMEOUT
        **json.loads(os.environ.get("ECOM_AI_WORKER_EXTRA_SETTINGS") or "{}"),
    }
    import django

    django.setup()
    import ecom_ai.tasks  # noqa: F401  registers every ecom_ai shared_task


app = Celery("ecom_ai_tests", set_as_current=False)
app.conf.update(
    broker_url=REDIS_URL,
    result_backend=REDIS_URL,
    task_always_eager=False,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
    result_expires=600,
)


@app.task(name="tests.celery_app.ping")
def ping():
    return "pong"


if os.environ.get("ECOM_AI_WORKER_DB_NAME"):  # imported by the worker process
    configure_worker_django()
