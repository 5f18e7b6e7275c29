"""Serving stage 1c, which models serve the list: the active versions, or an experiment variant's.

Active versions come from the registry (``load_active``: loaded once per process, a new
active version noticed within ``ACTIVE_MODEL_CHECK_SECONDS``). A variant that names a
model version gets that version, loaded once and kept for the process's life in a small
LRU (a ``TTLCache`` without expiry: a version's artifact never changes). Nothing here
raises into a page: a model that cannot be loaded gives ``None`` and the list falls back.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import ModelVersion
from ecom_ai.ttl_cache import TTLCache

logger = logging.getLogger("ecom_ai.recommend")

RECOMMENDER_KIND = "recommender"
COOCCURRENCE_KIND = "cooccurrence"

#: model versions named by experiment variants (at most 4 per process, least recently used dropped)
_versions = TTLCache("recommend.variant_versions", ttl=float("inf"), maxsize=4)


def load_version(version_id: int):
    """The servable object of one specific model version (for experiment variants), or None."""
    return _versions.get_or_set(version_id, lambda: _load_version(version_id))


def _load_version(version_id: int):
    from ecom_ai.ml.artifacts import load_artifact
    from ecom_ai.ml.registry import get_trainer

    try:
        version = ModelVersion.objects.get(pk=version_id)
        if version.artifact:
            return get_trainer(version.kind).load(load_artifact(version.artifact))
    except Exception as exc:  # noqa: BLE001 - a broken variant falls back, never breaks a page
        logger.error("ecom_ai: model version %s cannot be loaded for an experiment: %s", version_id, exc)
    return None


def clear_version_cache() -> None:
    _versions.clear()


@contextmanager
def inference_threads():
    """Run model inference with ``RECOMMEND_INFERENCE_THREADS`` torch threads (default 1).

    One small forward pass gains nothing from intra-op threads, and in a web server with
    several workers (or any other load) they oversubscribe the CPUs: measured on the
    sandbox's model, 1.8 ms per list with one thread against 130 ms with torch's default
    two on a busy 2-core machine. The previous setting is restored afterwards.
    """
    threads = ecom_settings.RECOMMEND_INFERENCE_THREADS
    torch = sys.modules.get("torch")
    if not threads or torch is None:
        yield
        return
    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if previous != threads:
            torch.set_num_threads(previous)


def active(kind):
    """The active model of ``kind`` loaded in this process, or None."""
    from ecom_ai.ml.registry import load_active

    try:
        return load_active(kind)
    except Exception as exc:  # noqa: BLE001 - e.g. no trainer configured for the kind
        logger.debug("ecom_ai: no %s model: %s", kind, exc)
        return None


def active_version_id(kind):
    """The id of the version ``load_active(kind)`` holds in this process (None: none loaded)."""
    from ecom_ai.ml import registry

    return getattr(registry._loaded.get(kind), "version_id", None)


def recommender_for(variant) -> tuple[object | None, int | None]:
    """``(model, version id)`` serving a list: the variant's model version, else the active
    recommender; ``(None, None)`` when there is none."""
    if variant is not None and variant.model_version_id:
        return load_version(variant.model_version_id), variant.model_version_id
    model = active(RECOMMENDER_KIND)
    if model is None:
        return None, None
    return model, active_version_id(RECOMMENDER_KIND)
