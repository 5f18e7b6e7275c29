"""Test settings: the sandbox shop plus a UUID-keyed host app.

``ECOM_AI_TEST_DB=postgres`` runs the suite on the PostgreSQL server (127.0.0.1:5432);
the default is SQLite.
"""

import os
import tempfile

os.environ.setdefault("SANDBOX_DB", os.environ.get("ECOM_AI_TEST_DB", "sqlite"))
os.environ.pop("REDIS_URL", None)  # tests choose the broker themselves

from sandbox.settings import *  # noqa: E402,F401,F403
from sandbox.settings import INSTALLED_APPS  # noqa: E402

INSTALLED_APPS = INSTALLED_APPS + ["tests.testapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="ecom_ai_test_media_")
CELERY_TASK_ALWAYS_EAGER = True
REDIS_TEST_URL = os.environ.get("ECOM_AI_TEST_REDIS", "redis://127.0.0.1:6379/15")

# Test databases a real Celery worker process can reach (tests/conftest.py `celery_worker`):
# SQLite on a file instead of in memory; a name per test run, so runs side by side never
# drop each other's database. ECOM_AI_TEST_DB_NAME fixes the name.
_test_db = DATABASES["default"]  # noqa: F405
if _test_db["ENGINE"].endswith("sqlite3"):
    _test_db["TEST"] = {
        "NAME": os.environ.get("ECOM_AI_TEST_DB_NAME")
        or os.path.join(tempfile.mkdtemp(prefix="ecom_ai_test_db_"), "test.sqlite3")
    }
else:
    _test_db["TEST"] = {"NAME": os.environ.get("ECOM_AI_TEST_DB_NAME") or f"test_ecom_ai_{os.getpid()}"}

# Served recommendation lists are written inside the request in tests: the buffered log's
# thread has its own database connection, which cannot see a test's uncommitted rows.
# Tests of the buffered mode opt in (tests/recommend/test_serving_cache_and_log.py).
ECOM_AI = {**ECOM_AI, "RECOMMEND_LOG_MODE": "sync"}  # noqa: F405
# Likewise a training requested without a broker runs inside the caller in tests (the background
# thread could not see a test's uncommitted rows); tests/ml/test_local_training.py tests the thread.
ECOM_AI["LOCAL_TRAINING"] = "inline"
# The chat tests train on the built-in n-gram encoder (fast, no model); the packaged sentence
# encoders have their own tests (tests/chat/test_encoders.py).
ECOM_AI = {**ECOM_AI, "CHAT_ENCODER": "builtin"}
# The schema tests read /ecom-ai/api/schema/ anonymously; tests/api/test_docs.py tests the staff-only default.
ECOM_AI["API_DOCS_PUBLIC"] = True
ECOM_AI["CHAT_WARM_UP"] = False  # no background thread touching the test database
