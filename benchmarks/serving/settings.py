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
ECOM_AI = {**_SANDBOX_ECOM_AI, "RECOMMEND_THROTTLE_RATE": None, "ACTIVE_MODEL_CHECK_SECONDS": 5,
           "RECOMMEND_LOG_IMPRESSIONS": os.environ.get("ECOM_AI_SERVE_IMPRESSIONS", "1") == "1"}
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": "WARNING"}}
