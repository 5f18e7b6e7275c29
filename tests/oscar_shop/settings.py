"""A plain django-oscar 4 shop with ecom_ai added as docs/oscar.md shows (the second real host
in the test suite, run by ``make test`` on SQLite and PostgreSQL: see the Makefile).

Everything outside the marked block is Oscar's own "Building your own shop" set-up.
"""

import os
import tempfile

from oscar import INSTALLED_APPS as OSCAR_APPS
from oscar.defaults import *  # noqa: F401,F403

SECRET_KEY = "oscar-test-shop-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
SITE_ID = 1
ROOT_URLCONF = "tests.oscar_shop.urls"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-gb"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "oscar.apps.basket.middleware.BasketMiddleware",
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
]

# --- ecom_ai: the lines docs/oscar.md adds ------------------------------------------------
INSTALLED_APPS = ["ecom_ai.contrib.oscar", "ecom_ai", "rest_framework", "drf_spectacular", *OSCAR_APPS]
MIDDLEWARE += ["ecom_ai.events.middleware.VisitorMiddleware"]
ECOM_AI = {"ADAPTER": "ecom_ai.contrib.oscar.OscarShopAdapter"}
# --- end of ecom_ai -------------------------------------------------------------------------

# tests only: served recommendation lists are written inside the request (the buffered log's
# thread has its own connection, which cannot see a test's uncommitted rows)
ECOM_AI["RECOMMEND_LOG_MODE"] = "sync"
ECOM_AI["LOCAL_TRAINING"] = "inline"  # as tests/settings.py
ECOM_AI["CHAT_ENCODER"] = "builtin"  # as tests/settings.py: the chat fixtures train on the n-gram encoder

INSTALLED_APPS += ["sorl.thumbnail"]  # Oscar's default thumbnailer
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.template.context_processors.i18n",
                "django.contrib.messages.context_processors.messages",
                "oscar.apps.search.context_processors.search_form",
                "oscar.apps.checkout.context_processors.checkout",
                "oscar.apps.communication.notifications.context_processors.notifications",
                "oscar.core.context_processors.metadata",
            ]
        },
    }
]
AUTHENTICATION_BACKENDS = [
    "oscar.apps.customer.auth_backends.EmailBackend",
    "django.contrib.auth.backends.ModelBackend",
]
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
OSCAR_ALLOW_ANON_CHECKOUT = True
OSCAR_DEFAULT_CURRENCY = "USD"
OSCAR_INITIAL_ORDER_STATUS = "Pending"
OSCAR_INITIAL_LINE_STATUS = "Pending"
OSCAR_ORDER_STATUS_PIPELINE = {"Pending": ("Being processed", "Cancelled"), "Being processed": (), "Cancelled": ()}

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = tempfile.mkdtemp(prefix="ecom_ai_oscar_media_")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = ""
CELERY_TASK_ALWAYS_EAGER = True
REDIS_TEST_URL = os.environ.get("ECOM_AI_TEST_REDIS", "redis://127.0.0.1:6379/15")

# SQLite on a file, or PostgreSQL with ECOM_AI_TEST_DB=postgres (a database name per run)
if os.environ.get("ECOM_AI_TEST_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "test"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "ATOMIC_REQUESTS": True,
            "TEST": {"NAME": os.environ.get("ECOM_AI_TEST_DB_NAME") or f"test_ecom_ai_oscar_{os.getpid()}"},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(tempfile.gettempdir(), "ecom_ai_oscar.sqlite3"),
            "ATOMIC_REQUESTS": True,
            # as the sandbox: writers wait for each other instead of failing with "database is locked"
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            "TEST": {
                "NAME": os.environ.get("ECOM_AI_TEST_DB_NAME")
                or os.path.join(tempfile.mkdtemp(prefix="ecom_ai_oscar_db_"), "test.sqlite3")
            },
        }
    }
