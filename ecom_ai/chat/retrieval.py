"""Finding what to answer with: knowledge-base articles and catalog items, by embeddings.

Both indexes embed with the chat's encoder (the classifier's, so a message is encoded
once) and are cached in the process; they are rebuilt when an article or item changes
(a cheap signature query per message tells).
"""

from __future__ import annotations

import json

import logging
import re
import threading
from dataclasses import dataclass

import numpy as np

from ecom_ai.chat.encoders import normalise

logger = logging.getLogger(__name__)

_STOPWORDS = set(
    """
a an the and or but if of to in on for with at by from as is are was were be been am do does did
have has had i me my we our you your it its this that these those there here what which who how
when where why can could would should will shall may might must please any some anything something
looking look want need buy sell get show find tell know about hi hello thanks thank much many one
""".split()
)
_WORD_RE = re.compile(r"\w+", re.UNICODE)


def content_words(text: str) -> set[str]:
    words = {w for w in _WORD_RE.findall(text.lower()) if w not in _STOPWORDS and (len(w) > 2 or not w.isascii())}
    return words | {w[:-1] for w in words if w.endswith("s") and len(w) > 3}


@dataclass
class ArticleMatch:
    article_id: int
    title: str
    body: str
    topic: str
    url: str
    score: float
    language: str = ""  # "" = the shop's default chat language
    root_id: int = 0  # the article this one translates, else its own id: one answer in several languages


@dataclass
class ItemMatch:
    key: str
    title: str
    price: object
    in_stock: bool
    url: str
    score: float


@dataclass(frozen=True)
class KnowledgeCalibration:
    """Where this encoder's similarities to *these* articles mean something, fitted on the articles.

    The packaged off-topic messages (``chat/data/off_topic.json``: weather, jokes, recipes… in
    English and Chinese) are the null: each one's similarity to its closest article. ``floor`` is
    their ``OFF_TOPIC_PERCENTILE``-th percentile (a message closer than that to an article is
    unlike off-topic talk); ``high`` is ``SPREADS`` × (that percentile − their median) above it —
    how far above off-topic talk a clear match sits, in the encoder's own units (about where an
    article's own question variants score with a sentence encoder). ``normalise(s)`` puts a cosine
    similarity on the scale floor → 0, high → 1, the same for every encoder: n-grams score 0.3
    where a sentence encoder scores 0.6, and their off-topic spreads differ too.
    """

    floor: float = 0.45
    high: float = 0.7
    fitted: bool = False

    def normalise(self, similarity: float) -> float:
        return (similarity - self.floor) / max(MIN_CALIBRATION_SPAN, self.high - self.floor)


OFF_TOPIC_PERCENTILE = 90
SPREADS = 2.0
MIN_CALIBRATION_SPAN = 0.05


_OFF_TOPIC_VECTORS: dict = {}  # encoder -> the packaged off-topic messages, encoded and normalised


def _off_topic_vectors(encoder) -> np.ndarray:
    """The packaged off-topic messages through ``encoder``: encoded once per encoder and process
    (they never change), not at every knowledge-base rebuild."""
    from ecom_ai.chat.classifier import off_topic_messages

    try:
        key = json.dumps(encoder.spec(), sort_keys=True, default=str)
    except Exception:  # an encoder without a spec: this object only
        key = id(encoder)
    vectors = _OFF_TOPIC_VECTORS.get(key)
    if vectors is None:
        vectors = normalise(encoder.encode(off_topic_messages()))
        if len(_OFF_TOPIC_VECTORS) >= 8:
            _OFF_TOPIC_VECTORS.clear()
        _OFF_TOPIC_VECTORS[key] = vectors
    return vectors


def _calibrate(vectors: np.ndarray, owners: list, encoder) -> KnowledgeCalibration:
    """``KnowledgeCalibration`` of one knowledge-base index (see there); defaults when it cannot be fitted."""
    if len(set(owners)) < 2:
        return KnowledgeCalibration()
    try:
        off = _off_topic_vectors(encoder)
    except Exception:  # no packaged messages / an encoder that fails on them: the fixed defaults
        logger.warning("Chat: could not calibrate the knowledge base; fixed defaults", exc_info=True)
        return KnowledgeCalibration()
    if off.ndim != 2 or off.shape[1] != vectors.shape[1] or not len(off):
        return KnowledgeCalibration()
    nearest = (off @ vectors.T).max(axis=1)
    floor = float(np.percentile(nearest, OFF_TOPIC_PERCENTILE))
    spread = max(MIN_CALIBRATION_SPAN / SPREADS, floor - float(np.median(nearest)))
    return KnowledgeCalibration(floor=floor, high=floor + SPREADS * spread, fitted=True)


class _Index:
    def __init__(self):
        self.signature = None
        self.encoder_name = None
        self.vectors = np.zeros((0, 1), dtype=np.float32)
        self.owners: list = []
        self.meta: dict = {}
        self.calibration = KnowledgeCalibration()
        self.lock = threading.Lock()


_kb = _Index()
_catalog = _Index()


def clear_indexes() -> None:
    for index in (_kb, _catalog):
        with index.lock:
            index.signature = None


def _kb_documents(article) -> list[str]:
    first = article.body.split("\n")[0][:300]
    return [article.title, *article.question_list(), f"{article.title}. {first}"]


def knowledge_calibration(encoder) -> KnowledgeCalibration:
    """The calibration of the knowledge-base index for ``encoder`` (as last built; built if needed)."""
    with _kb.lock:
        if _kb.signature is not None and _kb.encoder_name == encoder.name:
            return _kb.calibration
    _knowledge_index(encoder)
    with _kb.lock:
        return _kb.calibration


def knowledge_matches(vector: np.ndarray, encoder, *, topic: str | None = None, limit: int = 3) -> list[ArticleMatch]:
    """Published articles by closeness to the message (best first); ``topic`` restricts them."""
    vectors, owners, meta = _knowledge_index(encoder)
    if not owners:
        return []
    sims = vectors @ vector
    best: dict[int, float] = {}
    for owner, sim in zip(owners, sims.tolist()):
        if sim > best.get(owner, -2.0):
            best[owner] = sim
    matches = [
        ArticleMatch(a.pk, a.title, a.body, a.topic, a.url, score, a.language, a.translation_of_id or a.pk)
        for pk, score in best.items()
        for a in (meta[pk],)
        if not topic or a.topic == topic
    ]
    matches.sort(key=lambda m: -m.score)
    return matches[:limit]


def _knowledge_index(encoder):
    """``(vectors, owners, meta)`` of the published articles, rebuilt (and recalibrated) when they change."""
    from django.db.models import Count, Max

    from ecom_ai.models import KnowledgeArticle

    published = KnowledgeArticle.objects.filter(published=True)
    signature = tuple(published.aggregate(n=Count("id"), latest=Max("updated_at"), top=Max("id")).values())
    with _kb.lock:
        if _kb.signature != signature or _kb.encoder_name != encoder.name:
            articles = list(published.order_by("id"))
            docs, owners = [], []
            for article in articles:
                for doc in _kb_documents(article):
                    docs.append(doc)
                    owners.append(article.pk)
            _kb.vectors = normalise(encoder.encode(docs)) if docs else np.zeros((0, 1), dtype=np.float32)
            _kb.owners = owners
            _kb.meta = {a.pk: a for a in articles}
            _kb.calibration = _calibrate(_kb.vectors, owners, encoder)
            _kb.signature, _kb.encoder_name = signature, encoder.name
        return _kb.vectors, _kb.owners, _kb.meta


def knowledge_snapshot() -> tuple[object, dict]:
    """``(signature, {article id: article})`` of the knowledge-base index as last built."""
    with _kb.lock:
        return (_kb.signature, _kb.encoder_name), dict(_kb.meta)


def article_documents(article) -> list[str]:
    """The texts an article is matched by (title, question variants, first line)."""
    return _kb_documents(article)


def article_versions(root_id: int) -> list[ArticleMatch]:
    """The published versions (the article and its translations) of one answer, from the index cache."""
    with _kb.lock:
        meta = dict(_kb.meta)
    if not meta:
        from ecom_ai.models import KnowledgeArticle

        meta = {a.pk: a for a in KnowledgeArticle.objects.filter(published=True).filter(models_q_root(root_id))}
    return [
        ArticleMatch(a.pk, a.title, a.body, a.topic, a.url, 1.0, a.language, a.translation_of_id or a.pk)
        for a in meta.values()
        if (a.translation_of_id or a.pk) == root_id
    ]


def models_q_root(root_id: int):
    from django.db.models import Q

    return Q(pk=root_id) | Q(translation_of_id=root_id)


def _item_text(item) -> str:
    return f"{item.title}. {item.category}. {item.text[:400]}"


def catalog_matches(
    text: str, vector: np.ndarray, encoder, *, mentioned_keys=(), limit: int = 3, min_score: float = 0.1
) -> list[ItemMatch]:
    """Active catalog items for a product question: mentioned items first, then by a mix of
    embedding similarity and shared words with the title/category."""
    from django.db.models import Count, Max

    from ecom_ai.models import Item

    active = Item.objects.filter(is_active=True)
    signature = tuple(active.aggregate(n=Count("id"), latest=Max("updated_at"), top=Max("id")).values())
    with _catalog.lock:
        if _catalog.signature != signature or _catalog.encoder_name != encoder.name:
            items = list(
                active.only(
                    "key", "title", "text", "category", "price", "in_stock", "url", "embedding", "embedding_model"
                ).order_by("id")
            )
            vectors = []
            missing = [
                i for i, item in enumerate(items) if not (item.embedding and item.embedding_model == encoder.name)
            ]
            encoded = normalise(encoder.encode([_item_text(items[i]) for i in missing])) if missing else None
            encoded_rows = {row: encoded[n] for n, row in enumerate(missing)} if missing else {}
            for i, item in enumerate(items):
                if i in encoded_rows:
                    vectors.append(encoded_rows[i])
                else:
                    vectors.append(normalise(np.frombuffer(bytes(item.embedding), dtype=np.float32)))
            _catalog.vectors = np.vstack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)
            _catalog.owners = [item.key for item in items]
            _catalog.meta = {
                item.key: (
                    item.title,
                    item.price,
                    item.in_stock,
                    item.url,
                    item.category,
                    content_words(f"{item.title} {item.category}"),
                )
                for item in items
            }
            _catalog.signature, _catalog.encoder_name = signature, encoder.name
        vectors, owners, meta = _catalog.vectors, _catalog.owners, _catalog.meta
    if not owners:
        return []
    words = content_words(text)
    sims = vectors @ vector if vectors.shape[1] == len(vector) else np.zeros(len(owners))
    mentioned = list(dict.fromkeys(mentioned_keys))
    scored = []
    for key, sim in zip(owners, sims.tolist()):
        title, price, in_stock, url, category, title_words = meta[key]
        overlap = len(words & title_words) / max(1, len(words)) if words else 0.0
        score = 0.5 * sim + overlap + (2.0 if key in mentioned else 0.0)
        if key in mentioned or overlap > 0 or sim >= min_score + 0.2:
            scored.append(ItemMatch(key, title, price, in_stock, url, score))
    scored.sort(key=lambda m: (-m.score, not m.in_stock))
    return [m for m in scored if m.score >= min_score][:limit]


def product_titles() -> dict[str, str]:
    """``{key: title}`` of active items (for product mentions), from the catalog index cache."""
    from ecom_ai.models import Item

    with _catalog.lock:
        if _catalog.signature is not None and _catalog.meta:
            return {key: meta[0] for key, meta in _catalog.meta.items()}
    return dict(Item.objects.filter(is_active=True).values_list("key", "title")[:5000])
