"""Is the active model of each kind usable, or is serving on its fallback (and since when)?

Serving never fails on a bad artifact: ``registry.load_active`` logs the error and returns
``None``, and each domain falls back (the heuristic for fraud, popularity for
recommendations, the built-in classifier for the chat). That must not go unnoticed, so:

- ``check_version(version)`` loads the version's artifact through storage and its trainer
  (``Trainer.load``), the way serving does, and says ``ok`` or the error; the answer is kept
  ``CHECK_SECONDS`` per process (the admin lists call it on every page view). When this
  process already serves that version, its loaded object is the answer (nothing is loaded);
- the first time a version is found unusable — by serving or by a check — the moment is
  kept (in the shared cache, and in this process), so the admin can say "fallback in use
  since ..."; it is forgotten when the version loads again;
- ``check_active()`` checks every active version: the admin's model-version pages, the
  ``ecom_ai.W021`` system check (``quick=True``: the artifact file only, without the
  trainer) and ``manage.py ecom_ai_models --check`` (non-zero exit when one is unusable)
  use it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from ecom_ai.ml import unusable

CHECK_SECONDS = 60.0


@dataclass(frozen=True)
class ArtifactHealth:
    kind: str
    version_id: int
    number: int
    ok: bool
    error: str = ""
    since: datetime | None = None  # unusable (fallback in use) since

    @property
    def label(self) -> str:
        if self.ok:
            return "loadable"
        when = f" since {self.since:%Y-%m-%d %H:%M:%S %Z}" if self.since else ""
        return f"unusable, fallback in use{when}: {self.error}"


_checked: dict[tuple, tuple[float, ArtifactHealth]] = {}
_lock = threading.Lock()


def clear() -> None:
    """Forget the checks kept in this process (tests)."""
    with _lock:
        _checked.clear()
    unusable.clear()


def _served(version) -> bool | None:
    """True/False when this process serves ``version`` (loaded, or failed to); None when it does not."""
    from ecom_ai.ml import registry

    entry = registry._loaded.get(version.kind)
    if entry is None or entry.version_id != version.pk:
        return None
    return entry.servable is not None


def check_version(version, *, quick: bool = False, fresh: bool = False) -> ArtifactHealth:
    """The health of ``version``'s artifact. ``quick``: read the file only (storage +
    ``torch.load``), not the trainer's ``load``; ``fresh``: do not use a kept answer."""
    from ecom_ai.ml.artifacts import load_artifact
    from ecom_ai.ml.registry import get_trainer

    key = (version.pk, version.artifact, quick)
    now = time.monotonic()
    if not fresh:
        with _lock:
            kept = _checked.get(key)
        if kept is not None and now - kept[0] < CHECK_SECONDS:
            return kept[1]
    served = None if fresh else _served(version)
    error = ""
    if served is None:
        try:
            payload = load_artifact(version.artifact)
            if not quick:
                get_trainer(version.kind).load(payload)
        except Exception as exc:  # noqa: BLE001 - any failure is what the check reports
            error = f"{type(exc).__name__}: {exc}"[:500]
    elif not served:
        error = "this process could not load it (see the log)"
    if error:
        health = ArtifactHealth(
            version.kind, version.pk, version.number, False, error, unusable.record_unusable(version.pk)
        )
    else:
        unusable.record_usable(version.pk)
        health = ArtifactHealth(version.kind, version.pk, version.number, True)
    with _lock:
        _checked[key] = (now, health)
    return health


def check_active(kinds=None, *, quick: bool = False, fresh: bool = False) -> list[ArtifactHealth]:
    """The health of every active version (of ``kinds``), ordered by kind."""
    from ecom_ai.models.registry import ModelVersion

    versions = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).order_by("kind")
    if kinds:
        versions = versions.filter(kind__in=list(kinds))
    return [check_version(v, quick=quick, fresh=fresh) for v in versions]
