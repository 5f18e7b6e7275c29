"""ecom_ai's one settings object.

Read settings through ``ecom_ai.conf.settings`` (``from ecom_ai.conf import settings as
ecom_settings``), never ``django.conf.settings.ECOM_AI`` directly::

    ecom_settings.MAX_BATCH_SIZE

The host project configures ecom_ai with one dict in its Django settings::

    ECOM_AI = {
        "PRODUCT_MODEL": "shop.Product",
        "ORDER_MODEL": "shop.Order",
    }

Every key, its default and its meaning is documented in ``docs/settings.md``. Values are
validated when first read (and by ``manage.py check``); the object drops its cache on
Django's ``setting_changed`` signal, so ``override_settings(ECOM_AI=...)`` works in tests.
"""
from __future__ import annotations

import difflib

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULT_EVENT_TYPES = (
    "view",
    "click",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "favorite",
    "purchase",
    "refund",
    "impression",
    "chat",
    "page_view",
)

DEFAULT_CHANNELS = ("web", "app", "mini_program", "store", "email", "api")

DEFAULTS: dict = {
    # --- host shop -------------------------------------------------------------------
    "ADAPTER": "ecom_ai.adapters.DefaultShopAdapter",
    "PRODUCT_MODEL": None,
    "ORDER_MODEL": None,
    # neutral name -> attribute path on the host product ("category.name" follows relations)
    "PRODUCT_FIELDS": {
        "title": "title",
        "text": "description",
        "category": "category.name",
        "price": "price",
        "in_stock": "in_stock",
    },
    # neutral name -> attribute path on the host order
    "ORDER_FIELDS": {
        "number": "number",
        "user": "user",
        "email": "email",
        "total": "total",
        "currency": "currency",
        "created_at": "created_at",
        "status": "status",
        "lines": "lines.all",
        "line_product": "product",
        "line_quantity": "quantity",
        "line_price": "price",
    },
    "DEFAULT_CURRENCY": "USD",
    # --- events ------------------------------------------------------------------------
    "EVENT_TYPES": DEFAULT_EVENT_TYPES,
    "EXTRA_EVENT_TYPES": (),
    "CHANNELS": DEFAULT_CHANNELS,
    "EXTRA_CHANNELS": (),
    "VISITOR_COOKIE_NAME": "ecom_ai_vid",
    "VISITOR_COOKIE_AGE": 60 * 60 * 24 * 365 * 2,
    "VISITOR_COOKIE_SECURE": False,
    "MAX_BATCH_SIZE": 500,
    "MAX_CONTEXT_BYTES": 4096,
    "MAX_EVENT_AGE_DAYS": 365,
    "MAX_CLOCK_SKEW_SECONDS": 300,
    "TRACK_STAFF": False,
    "EVENTS_THROTTLE_RATE": "120/min",
    "API_KEY_THROTTLE_RATE": "6000/min",
    "RETENTION_DAYS": 730,
    # --- tasks and ML ------------------------------------------------------------------
    "TASK_MODE": "auto",  # auto | celery | inline
    "TASK_QUEUE": "ecom_ai",
    "TRAINING_QUEUE": "ecom_ai_training",
    "DEVICE": "auto",  # auto | cpu | cuda | cuda:N | mps
    "SEED": 1234,
    "ARTIFACT_STORAGE": "default",  # an alias in Django's STORAGES
    "ARTIFACT_PATH": "ecom_ai/models",
    "TEXT_ENCODER": "ecom_ai.ml.text.HashingTextEncoder",
    "SENTENCE_TRANSFORMER_MODEL": None,
    "EVALUATION_TOLERANCE": 0.01,
    "TRAINING_LOCK_TIMEOUT": 60 * 60 * 6,
    # --- ml (registry) ------------------------------------------------------------------
    "TRAINERS": {"intent": "ecom_ai.chat.training.IntentTrainer", "fraud": "ecom_ai.fraud.training.FraudTrainer", "cooccurrence": "ecom_ai.recommend.cooccurrence.CooccurrenceTrainer", "recommender": "ecom_ai.recommend.training.RecommenderTrainer"},  # kind -> dotted path of an ecom_ai.ml.registry.Trainer subclass
    "ACTIVE_MODEL_CHECK_SECONDS": 5,
    # --- fraud (fraud area) ------------------------------------------------------------
    "FRAUD_ENABLED": True,
    "FRAUD_ASYNC": True,
    "FRAUD_MEDIUM_THRESHOLD": 30,
    "FRAUD_HIGH_THRESHOLD": 70,
    "FRAUD_ABSURD_AMOUNT": 100_000,
    "FRAUD_CURRENCIES": None,
    "FRAUD_IP_COUNTRY_HEADER": None,
    "FRAUD_MIN_LABELS": 40,
    "FRAUD_MIN_POSITIVES": 8,
    "FRAUD_ASSUME_LEGIT_AFTER_DAYS": 60,
    "FRAUD_EXTRA_FEATURES": {},  # the shop's own order attributes: name -> "numeric" / "categorical" / spec dict (docs/fraud.md)
    # --- quality floors and fairness (issue 16) ------------------------------------------
    "QUALITY_FLOORS": {},  # kind -> {metric: minimum} overriding the trainers' floors; kind -> None: no floor
    "QUALITY_FLOOR_MARGIN": 0.0,  # a version must beat its baselines' primary metric by more than this
    "FAIRNESS_SEGMENTS": ("country", "channel", "customer"),  # fairness report breakdowns (+ FRAUD_EXTRA_FEATURES names)
    # --- chat (chat area) --------------------------------------------------------------
    "CHAT_ENCODER": "auto",  # auto | builtin | sentence_transformer | dotted path
    "CHAT_INTENT_THRESHOLD": 0.4,
    "CHAT_OOS_MIN_SIMILARITY": None,  # None: calibrated when the classifier is trained
    "CHAT_KB_MIN_SIMILARITY": 0.45,
    "CHAT_PRODUCT_MIN_SIMILARITY": 0.1,
    "CHAT_MAX_MESSAGE_LENGTH": 1000,
    "CHAT_HISTORY_LIMIT": 100,
    "CHAT_THROTTLE_RATE": "20/min",
    "CHAT_MAX_ORDER_LOOKUP_FAILURES": 5,
    "CHAT_POLL_SECONDS": 5,
    "CHAT_LLM_BACKEND": None,
    "CHAT_LLM_URL": "",
    "CHAT_LLM_MODEL": "",
    "CHAT_LLM_API_KEY": "",
    "CHAT_LLM_TIMEOUT": 5.0,
    # --- recommendations (recommend serving area) -----------------------------------------
    "RECOMMEND_HISTORY_LENGTH": 50,  # latest events of the visitor/user read per request
    "RECOMMEND_MAX_LIMIT": 50,  # longest list one request may ask for
    "RECOMMEND_EVENT_WEIGHTS": {"view": 1.0, "click": 1.0, "favorite": 2.0, "add_to_cart": 3.0, "purchase": 5.0},
    "RECOMMEND_TRENDING_HALF_LIFE_DAYS": 7.0,
    "RECOMMEND_TRENDING_WINDOW_DAYS": 28,
    "RECOMMEND_COOCCURRENCE_WINDOW_DAYS": 180,
    "RECOMMEND_COOCCURRENCE_NEIGHBORS": 50,
    "RECOMMEND_CACHE_SECONDS": 300,  # trending tables and live co-occurrence kept this long per process
    "RECOMMEND_PLACEMENT_CACHE_SECONDS": 10,  # placements, rules and experiments re-read this often
    "RECOMMEND_ATTRIBUTION_HOURS": 24,
    "RECOMMEND_LOG_IMPRESSIONS": True,
    "RECOMMEND_LOG_MODE": "buffered",  # "buffered": served lists + impressions written in bulk by a thread; "sync": in the request; "queue": pushed to Redis, written by ecom_ai_log_worker
    "RECOMMEND_LOG_QUEUE_URL": "",  # "queue" mode: the Redis of the served-list queue, e.g. "redis://127.0.0.1:6379/0"
    "RECOMMEND_LOG_QUEUE_NAME": "ecom_ai:served_lists",  # "queue" mode: the Redis key of the queue (one per shop sharing a Redis)
    "RECOMMEND_LOG_QUEUE_MAX": 1_000_000,  # "queue" mode: lists waiting at most; beyond, web processes write them themselves
    "RECOMMEND_LOG_FLUSH_SECONDS": 1.0,  # buffered mode: the buffer is written at least this often
    "RECOMMEND_LOG_BATCH_SIZE": 200,  # buffered mode: ... and as soon as this many lists wait (one transaction each)
    "RECOMMEND_ITEM_FACTS_CACHE_SECONDS": 30,  # item facts (stock, category, title) kept per process at most this long; 0 = off
    "RECOMMEND_ITEM_FACTS_CACHE_SIZE": 100_000,  # item facts kept per process at most (LRU)
    "RECOMMEND_THROTTLE_RATE": None,  # e.g. "300/min" per browser (user, visitor or IP); None = no throttle
    "RECOMMEND_HISTORY_CACHE": "auto",  # shoppers' recent-event state in the shared cache between their events; "auto": only with a shared backend (Redis, Memcached...)
    "RECOMMEND_HISTORY_CACHE_SECONDS": 600,  # ... kept at most this long (bounds writes that bypass ecom_ai.events); 0 = off
    "RECOMMEND_LIST_CACHE_SECONDS": 30,  # a served list reused (shared cache) until the shopper's next event, at most this long; 0 = off
    "RECOMMEND_INFERENCE_THREADS": 1,  # torch threads for one model call while serving; None = torch's setting
    # --- recommend (sequential model area) -------------------------------------------
    "RECOMMENDER_PARAMS": {},  # overrides of the model's training parameters (docs/recommendations-model.md)
    "RECOMMENDER_MIN_SEQUENCES": 10,  # shoppers with 2+ steps needed to train
    "RECOMMENDER_TRAINING_WINDOW_DAYS": 365,  # events older than this are not read (None: all)
    "RECOMMENDER_MAX_TRAINING_EVENTS": 5_000_000,  # newest events read at most (bounds memory)
}


def _is_rate(value) -> bool:
    """A DRF throttle rate: "<n>/<period>" with a period starting with s, m, h or d (events)."""
    if value is None:
        return True
    count, _, period = value.partition("/")
    return count.isdigit() and int(count) > 0 and period[:1] in ("s", "m", "h", "d")


_STR = (str,)
_INT = (int,)
_NUM = (int, float)


# --- catalog: field mappings must name known neutral fields and give attribute paths ---
def _check_field_mapping(key: str, mapping: dict):
    unknown = sorted(str(name) for name in mapping if name not in DEFAULTS[key])
    if unknown:
        return (f"has unknown field name(s) {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(DEFAULTS[key])})")
    bad = sorted(name for name, path in mapping.items() if not (path is None or isinstance(path, str)))
    if bad:
        return f"must map each field to an attribute path (str) or None; not so for {', '.join(map(repr, bad))}"
    return True

# key -> (accepted types, extra validator or None, description for errors)
_VALIDATORS = {
    "ADAPTER": (_STR, None),
    "PRODUCT_MODEL": ((str, type(None)), None),
    "ORDER_MODEL": ((str, type(None)), None),
    "PRODUCT_FIELDS": ((dict,), lambda v: _check_field_mapping("PRODUCT_FIELDS", v)),
    "ORDER_FIELDS": ((dict,), lambda v: _check_field_mapping("ORDER_FIELDS", v)),
    "DEFAULT_CURRENCY": (_STR, lambda v: len(v) == 3 or "must be a 3-letter ISO 4217 code"),
    "EVENT_TYPES": ((list, tuple), None),
    "EXTRA_EVENT_TYPES": ((list, tuple), None),
    "CHANNELS": ((list, tuple), None),
    "EXTRA_CHANNELS": ((list, tuple), None),
    "VISITOR_COOKIE_NAME": (_STR, lambda v: bool(v) or "must not be empty"),
    "VISITOR_COOKIE_AGE": (_INT, lambda v: v > 0 or "must be positive"),
    "VISITOR_COOKIE_SECURE": ((bool,), None),
    "MAX_BATCH_SIZE": (_INT, lambda v: 1 <= v <= 100_000 or "must be between 1 and 100000"),
    "MAX_CONTEXT_BYTES": (_INT, lambda v: v > 0 or "must be positive"),
    "MAX_EVENT_AGE_DAYS": (_INT, lambda v: v > 0 or "must be positive"),
    "MAX_CLOCK_SKEW_SECONDS": (_INT, lambda v: v >= 0 or "must not be negative"),
    "TRACK_STAFF": ((bool,), None),
    # events: throttle rates as DRF writes them ("120/min"), or None for no throttle
    "EVENTS_THROTTLE_RATE": ((str, type(None)), lambda v: _is_rate(v) or "must look like '120/min' (s, min, hour, day) or be None"),
    "API_KEY_THROTTLE_RATE": ((str, type(None)), lambda v: _is_rate(v) or "must look like '6000/min' (s, min, hour, day) or be None"),
    "RETENTION_DAYS": ((int, type(None)), lambda v: v is None or v > 0 or "must be positive or None"),
    "TASK_MODE": (_STR, lambda v: v in ("auto", "celery", "inline") or "must be auto, celery or inline"),
    "TASK_QUEUE": (_STR, None),
    "TRAINING_QUEUE": (_STR, None),
    "DEVICE": (_STR, lambda v: v == "auto" or v in ("cpu", "mps") or v.startswith("cuda") or "must be auto, cpu, cuda, cuda:N or mps"),
    "SEED": (_INT, None),
    "ARTIFACT_STORAGE": (_STR, None),
    "ARTIFACT_PATH": (_STR, None),
    "TEXT_ENCODER": (_STR, None),
    "SENTENCE_TRANSFORMER_MODEL": ((str, type(None)), None),
    "EVALUATION_TOLERANCE": (_NUM, lambda v: 0 <= v < 1 or "must be in [0, 1)"),
    "TRAINING_LOCK_TIMEOUT": (_INT, lambda v: v > 0 or "must be positive"),
    # ml (registry)
    "TRAINERS": ((dict,), lambda v: all(isinstance(k, str) and k and isinstance(p, str) and p for k, p in v.items())
                 or "must map kind names to dotted paths of Trainer subclasses"),
    "ACTIVE_MODEL_CHECK_SECONDS": (_NUM, lambda v: v >= 0 or "must not be negative"),
    # fraud (fraud area)
    "FRAUD_ENABLED": ((bool,), None),
    "FRAUD_ASYNC": ((bool,), None),
    "FRAUD_MEDIUM_THRESHOLD": (_INT, lambda v: 1 <= v <= 100 or "must be between 1 and 100"),
    "FRAUD_HIGH_THRESHOLD": (_INT, lambda v: 1 <= v <= 100 or "must be between 1 and 100"),
    "FRAUD_ABSURD_AMOUNT": (_NUM, lambda v: v > 0 or "must be positive"),
    "FRAUD_CURRENCIES": ((list, tuple, type(None)), None),
    "FRAUD_IP_COUNTRY_HEADER": ((str, type(None)), None),
    "FRAUD_MIN_LABELS": (_INT, lambda v: v >= 2 or "must be at least 2"),
    "FRAUD_MIN_POSITIVES": (_INT, lambda v: v >= 1 or "must be at least 1"),
    "FRAUD_ASSUME_LEGIT_AFTER_DAYS": ((int, type(None)), lambda v: v is None or v > 0 or "must be positive or None"),
    "FRAUD_EXTRA_FEATURES": ((dict,), None),  # checked in full by ecom_ai.fraud.checks (ecom_ai.E030)
    # quality floors and fairness
    "QUALITY_FLOORS": ((dict,), lambda v: all(
        isinstance(k, str) and (f is None or isinstance(f, dict) and all(
            isinstance(m, str) and isinstance(n, (int, float)) and not isinstance(n, bool) and n >= 0
            for m, n in f.items())) for k, f in v.items())
        or "must map model kinds to None or to {metric name: non-negative minimum}"),
    "QUALITY_FLOOR_MARGIN": (_NUM, lambda v: 0 <= v < 1 or "must be in [0, 1)"),
    "FAIRNESS_SEGMENTS": ((list, tuple), lambda v: all(isinstance(n, str) and n for n in v)
                          or "must be a list of segment names"),  # names checked by ecom_ai.E030
    # chat (chat area)
    "CHAT_ENCODER": (_STR, lambda v: bool(v) or "must not be empty"),
    "CHAT_INTENT_THRESHOLD": (_NUM, lambda v: 0 <= v <= 1 or "must be in [0, 1]"),
    "CHAT_OOS_MIN_SIMILARITY": ((int, float, type(None)), lambda v: v is None or -1 <= v <= 1 or "must be in [-1, 1] or None"),
    "CHAT_KB_MIN_SIMILARITY": (_NUM, lambda v: -1 <= v <= 1 or "must be in [-1, 1]"),
    "CHAT_PRODUCT_MIN_SIMILARITY": (_NUM, lambda v: -1 <= v <= 1 or "must be in [-1, 1]"),
    "CHAT_MAX_MESSAGE_LENGTH": (_INT, lambda v: 1 <= v <= 20_000 or "must be between 1 and 20000"),
    "CHAT_HISTORY_LIMIT": (_INT, lambda v: v > 0 or "must be positive"),
    "CHAT_THROTTLE_RATE": ((str, type(None)), lambda v: _is_rate(v) or "must look like 20/min (s, min, hour, day) or be None"),
    "CHAT_MAX_ORDER_LOOKUP_FAILURES": (_INT, lambda v: v > 0 or "must be positive"),
    "CHAT_POLL_SECONDS": (_INT, lambda v: v > 0 or "must be positive"),
    "CHAT_LLM_BACKEND": ((str, type(None)), None),
    "CHAT_LLM_URL": (_STR, None),
    "CHAT_LLM_MODEL": (_STR, None),
    "CHAT_LLM_API_KEY": (_STR, None),
    "CHAT_LLM_TIMEOUT": (_NUM, lambda v: v > 0 or "must be positive"),
    # recommendations (recommend serving area)
    "RECOMMEND_HISTORY_LENGTH": (_INT, lambda v: 1 <= v <= 1000 or "must be between 1 and 1000"),
    "RECOMMEND_MAX_LIMIT": (_INT, lambda v: 1 <= v <= 100 or "must be between 1 and 100"),
    "RECOMMEND_EVENT_WEIGHTS": ((dict,), lambda v: all(isinstance(k, str) and isinstance(w, (int, float))
                                                       and not isinstance(w, bool) and w >= 0 for k, w in v.items())
                                or "must map event types to non-negative numbers"),
    "RECOMMEND_TRENDING_HALF_LIFE_DAYS": (_NUM, lambda v: v > 0 or "must be positive"),
    "RECOMMEND_TRENDING_WINDOW_DAYS": (_INT, lambda v: v > 0 or "must be positive"),
    "RECOMMEND_COOCCURRENCE_WINDOW_DAYS": (_INT, lambda v: v > 0 or "must be positive"),
    "RECOMMEND_COOCCURRENCE_NEIGHBORS": (_INT, lambda v: 1 <= v <= 1000 or "must be between 1 and 1000"),
    "RECOMMEND_CACHE_SECONDS": (_NUM, lambda v: v >= 0 or "must not be negative"),
    "RECOMMEND_PLACEMENT_CACHE_SECONDS": (_NUM, lambda v: v >= 0 or "must not be negative"),
    "RECOMMEND_ATTRIBUTION_HOURS": (_NUM, lambda v: v > 0 or "must be positive"),
    "RECOMMEND_LOG_IMPRESSIONS": ((bool,), None),
    "RECOMMEND_LOG_MODE": (_STR, lambda v: v in ("buffered", "sync", "queue") or "must be 'buffered', 'sync' or 'queue'"),
    "RECOMMEND_LOG_QUEUE_URL": (_STR, lambda v: v == "" or v.split("://", 1)[0] in ("redis", "rediss", "unix") and "://" in v
                                or "must be a Redis URL (redis://, rediss:// or unix://) or empty"),
    "RECOMMEND_LOG_QUEUE_NAME": (_STR, lambda v: 1 <= len(v) <= 200 or "must be 1 to 200 characters"),
    "RECOMMEND_LOG_QUEUE_MAX": (_INT, lambda v: 1 <= v <= 100_000_000 or "must be between 1 and 100000000"),
    "RECOMMEND_LOG_FLUSH_SECONDS": (_NUM, lambda v: 0 < v <= 60 or "must be more than 0 and at most 60"),
    "RECOMMEND_LOG_BATCH_SIZE": (_INT, lambda v: 1 <= v <= 10_000 or "must be between 1 and 10000"),
    "RECOMMEND_ITEM_FACTS_CACHE_SECONDS": (_NUM, lambda v: 0 <= v <= 3600 or "must be between 0 and 3600"),
    "RECOMMEND_ITEM_FACTS_CACHE_SIZE": (_INT, lambda v: 1 <= v <= 10_000_000 or "must be between 1 and 10000000"),
    "RECOMMEND_THROTTLE_RATE": ((str, type(None)), lambda v: _is_rate(v) or "must look like '300/min' (s, min, hour, day) or be None"),
    "RECOMMEND_HISTORY_CACHE": ((bool, str), lambda v: v in (True, False, "auto") or "must be True, False or 'auto'"),
    "RECOMMEND_HISTORY_CACHE_SECONDS": (_NUM, lambda v: 0 <= v <= 86400 or "must be between 0 and 86400"),
    "RECOMMEND_LIST_CACHE_SECONDS": (_NUM, lambda v: 0 <= v <= 3600 or "must be between 0 and 3600"),
    "RECOMMEND_INFERENCE_THREADS": ((int, type(None)), lambda v: v is None or v >= 1 or "must be at least 1 or None"),
    # recommend (sequential model area)
    "RECOMMENDER_PARAMS": ((dict,), lambda v: all(isinstance(k, str) for k in v) or "must map parameter names to values"),
    "RECOMMENDER_MIN_SEQUENCES": (_INT, lambda v: v >= 1 or "must be at least 1"),
    "RECOMMENDER_TRAINING_WINDOW_DAYS": ((int, type(None)), lambda v: v is None or v > 0 or "must be positive or None"),
    "RECOMMENDER_MAX_TRAINING_EVENTS": ((int, type(None)), lambda v: v is None or v > 0 or "must be positive or None"),
}


def _type_names(types) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def validate(user_settings) -> list[str]:
    """Return a list of problems with ``user_settings`` (the host's ``ECOM_AI`` dict)."""
    if not isinstance(user_settings, dict):
        return [f"ECOM_AI must be a dict, not {type(user_settings).__name__}."]
    problems = []
    if user_settings.get("RECOMMEND_LOG_MODE") == "queue" and not user_settings.get("RECOMMEND_LOG_QUEUE_URL"):
        problems.append("ECOM_AI['RECOMMEND_LOG_MODE'] is 'queue' but ECOM_AI['RECOMMEND_LOG_QUEUE_URL'] is not set "
                        "(the Redis the served lists are queued in, e.g. 'redis://127.0.0.1:6379/0').")
    for key, value in user_settings.items():
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
            guess = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(f"ECOM_AI[{key!r}] is not a known setting (see docs/settings.md).{guess}")
            continue
        types, check = _VALIDATORS.get(key, (None, None))
        wrong_bool = isinstance(value, bool) and bool not in types
        if types and (not isinstance(value, types) or wrong_bool):
            problems.append(
                f"ECOM_AI[{key!r}] must be {_type_names(types)}, got {type(value).__name__} {value!r}."
            )
            continue
        if check:
            verdict = check(value)
            if verdict is not True:
                problems.append(f"ECOM_AI[{key!r}] {verdict}, got {value!r}.")
    return problems


class AppSettings:
    """Attribute access to ecom_ai's settings with defaults, validated on first use."""

    def __init__(self, defaults: dict):
        self._defaults = defaults
        self._cache: dict | None = None

    def _load(self) -> dict:
        if self._cache is None:
            user = getattr(django_settings, "ECOM_AI", {}) or {}
            problems = validate(user)
            if problems:
                raise ImproperlyConfigured(" ".join(problems))
            merged = dict(self._defaults)
            merged.update(user)
            # mappings are merged key by key so a host can override one field only
            for key in ("PRODUCT_FIELDS", "ORDER_FIELDS"):
                if key in user:
                    merged[key] = {**self._defaults[key], **user[key]}
            self._cache = merged
        return self._cache

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._load()
        if name not in values:
            raise AttributeError(f"ecom_ai has no setting {name!r}")
        return values[name]

    @property
    def all_event_types(self) -> tuple[str, ...]:
        return tuple(self.EVENT_TYPES) + tuple(self.EXTRA_EVENT_TYPES)

    @property
    def all_channels(self) -> tuple[str, ...]:
        return tuple(self.CHANNELS) + tuple(self.EXTRA_CHANNELS)

    def reload(self) -> None:
        self._cache = None


settings = AppSettings(DEFAULTS)


def _reload(*, setting, **kwargs):
    if setting == "ECOM_AI":
        settings.reload()
        from ecom_ai import adapters

        adapters.get_adapter.cache_clear()


setting_changed.connect(_reload)
