"""Settings of the sandbox shop: a small real shop that installs ecom_ai as a user would.

Environment: ``DATABASE_URL``-style choice by ``SANDBOX_DB`` (``sqlite`` default, or
``postgres`` with ``PGHOST``/``PGDATABASE``...), ``REDIS_URL`` for a real Celery broker and
cache (without it tasks run in-process).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SANDBOX_SECRET_KEY", "sandbox-not-secret-change-me")
# the key of the card fingerprints kept with orders (an HMAC of the card number); "" = SECRET_KEY
CARD_FINGERPRINT_KEY = os.environ.get("SANDBOX_CARD_FINGERPRINT_KEY", "")
DEBUG = os.environ.get("SANDBOX_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from static files, no CDN (ecom-ai[apidocs])
    "ecom_ai",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ecom_ai.events.middleware.VisitorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sandbox.urls"
WSGI_APPLICATION = "sandbox.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.cart",
                "shop.context_processors.categories",
            ]
        },
    }
]

if os.environ.get("SANDBOX_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "test"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SANDBOX_SQLITE", str(BASE_DIR / "db.sqlite3")),
            # IMMEDIATE: a transaction takes the write lock when it begins, so one that reads and
            # then writes waits for another writer (up to the timeout) instead of failing at once
            # with "database is locked" (SQLite cannot upgrade a deferred read lock while another
            # connection writes: a background thread, a worker, a second request)
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "static_collected"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("SANDBOX_MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "shop:login"
LOGIN_REDIRECT_URL = "shop:home"
LOGOUT_REDIRECT_URL = "shop:home"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {"TITLE": "ecom_ai API", "VERSION": "1"}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # short timeouts: a Redis that hangs must not hold requests (ecom_ai serves without the cache)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = ""
    CELERY_TASK_ALWAYS_EAGER = True

ECOM_AI = {
    "PRODUCT_MODEL": "shop.Product",
    "ORDER_MODEL": "shop.Order",
    "PRODUCT_FIELDS": {"in_stock": "stock"},
    "ADAPTER": "shop.ecom_ai_adapter.SandboxShopAdapter",
    # a demo trainer stopped hard (kill -9, a closed terminal) frees its kind after 15 min, not 6 h
    "TRAINING_LOCK_TIMEOUT": 15 * 60,
}

# Training progress on the console: one line per epoch (the demo's background training, and the
# admin's "Train a new version", which runs in a background thread of the web process without a broker).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"progress": {"format": "[%(asctime)s] %(message)s", "datefmt": "%H:%M:%S"}},
    "handlers": {"progress": {"class": "logging.StreamHandler", "formatter": "progress"}},
    "loggers": {"ecom_ai.ml.progress": {"handlers": ["progress"], "level": "INFO", "propagate": False}},
}
