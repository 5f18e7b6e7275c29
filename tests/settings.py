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
