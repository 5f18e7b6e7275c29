"""Settings of the serving benchmark: the sandbox shop, production-like (DEBUG off, quiet logs).

Only used by ``benchmarks/serve.py`` (the database is the throwaway one it names in the
environment); adds the trivial ``/ping/`` DRF endpoint through ``benchmarks.serving.urls``.
"""

import os

os.environ.setdefault("SANDBOX_DEBUG", "0")

from sandbox.settings import *  # noqa: E402,F401,F403
from sandbox.settings import ECOM_AI as _SANDBOX_ECOM_AI  # noqa: E402

DEBUG = False
MEDIA_ROOT = os.environ.get("ECOM_AI_SERVE_MEDIA", MEDIA_ROOT)  # noqa: F405 - artifacts of the run
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "benchmarks.serving.urls"
ECOM_AI = {
    **_SANDBOX_ECOM_AI,
    "RECOMMEND_THROTTLE_RATE": None,
    "ACTIVE_MODEL_CHECK_SECONDS": 5,
    "RECOMMEND_LOG_IMPRESSIONS": os.environ.get("ECOM_AI_SERVE_IMPRESSIONS", "1") == "1",
}
# the serving knobs serve.py compares (--log-mode, --facts-seconds); unset = ecom_ai's defaults
if os.environ.get("ECOM_AI_SERVE_LOG_MODE"):
    ECOM_AI["RECOMMEND_LOG_MODE"] = os.environ["ECOM_AI_SERVE_LOG_MODE"]
if os.environ.get("ECOM_AI_SERVE_LOG_MODE") == "queue":  # the run's own queue (deleted at the end)
    ECOM_AI["RECOMMEND_LOG_QUEUE_URL"] = os.environ.get("ECOM_AI_SERVE_REDIS", "redis://127.0.0.1:6379/0")
    ECOM_AI["RECOMMEND_LOG_QUEUE_NAME"] = (
        os.environ.get("ECOM_AI_SERVE_CACHE_PREFIX", "ecom_ai_serve") + ":served_lists"
    )
if os.environ.get("ECOM_AI_SERVE_LOG_BATCH"):
    ECOM_AI["RECOMMEND_LOG_BATCH_SIZE"] = int(os.environ["ECOM_AI_SERVE_LOG_BATCH"])
if os.environ.get("ECOM_AI_SERVE_LOG_FLUSH_SECONDS"):
    ECOM_AI["RECOMMEND_LOG_FLUSH_SECONDS"] = float(os.environ["ECOM_AI_SERVE_LOG_FLUSH_SECONDS"])
if os.environ.get("ECOM_AI_SERVE_LIST_CACHE_SECONDS"):
    ECOM_AI["RECOMMEND_LIST_CACHE_SECONDS"] = float(os.environ["ECOM_AI_SERVE_LIST_CACHE_SECONDS"])
if os.environ.get("ECOM_AI_SERVE_HISTORY_CACHE"):
    ECOM_AI["RECOMMEND_HISTORY_CACHE"] = {"on": True, "off": False}.get(
        os.environ["ECOM_AI_SERVE_HISTORY_CACHE"], "auto"
    )
if os.environ.get("ECOM_AI_SERVE_FACTS_SECONDS"):
    ECOM_AI["RECOMMEND_ITEM_FACTS_CACHE_SECONDS"] = float(os.environ["ECOM_AI_SERVE_FACTS_SECONDS"])
# persistent database connections, as production deployments run (--conn-max-age; 0 = a new
# connection per request, Django's default, which costs a PostgreSQL connection set-up each time)
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("ECOM_AI_SERVE_CONN_MAX_AGE", "60"))  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
# the cache (--cache): Redis, as production deployments run it (the shoppers' history cache
# needs a shared cache), or "locmem", the per-process default of a bare Django project
if os.environ.get("ECOM_AI_SERVE_CACHE", "locmem") == "redis":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("ECOM_AI_SERVE_REDIS", "redis://127.0.0.1:6379/0"),
            "KEY_PREFIX": os.environ.get("ECOM_AI_SERVE_CACHE_PREFIX", "ecom_ai_serve"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if os.environ.get("ECOM_AI_SERVE_GC") == "off":  # experiment only: no cyclic garbage collection in the workers
    import gc

    gc.disable()
if os.environ.get("ECOM_AI_SERVE_LOG") == "off":  # experiment only: served lists neither stored nor logged
    from ecom_ai.recommend import logwriter as _logwriter

    _logwriter.log_served = lambda result: None
