"""Model artifacts, stored through Django's storage API.

Artifacts go to ``storages[ECOM_AI["ARTIFACT_STORAGE"]]`` (local files by default; S3 and
others through django-storages) under ``ECOM_AI["ARTIFACT_PATH"]/<kind>/``.

They are written with ``torch.save`` and read back with ``torch.load(weights_only=True)``,
so loading an artifact never runs code from the file. That restricts what a payload may
hold to: dicts (also ``OrderedDict``), lists, tuples, sets, ``str``, ``bytes``, ``int``,
``float``, ``bool``, ``None`` and torch tensors (a model's ``state_dict()`` is fine).
Convert NumPy arrays with ``torch.from_numpy(array)`` (and back with ``tensor.numpy()``);
objects of your own classes must be reduced to those types (and rebuilt in
``Trainer.load``). ``save_artifact`` checks the payload loads back before storing it, so a
payload that breaks the rule fails at training time, never at serving time.
"""

from __future__ import annotations

import io
import re

import torch
from django.core.files.base import ContentFile
from django.core.files.storage import InvalidStorageError, storages

from ecom_ai.conf import settings as ecom_settings

_KIND_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ArtifactError(Exception):
    """An artifact is missing, unreadable, corrupt or holds types that are not allowed."""


def get_storage():
    alias = ecom_settings.ARTIFACT_STORAGE
    try:
        return storages[alias]
    except InvalidStorageError as exc:
        raise ArtifactError(
            f"ECOM_AI['ARTIFACT_STORAGE'] = {alias!r} is not a storage alias in STORAGES: {exc}"
        ) from None


def _dumps(payload) -> bytes:
    buffer = io.BytesIO()
    try:
        torch.save(payload, buffer)
    except Exception as exc:  # pickling errors vary by type
        raise ArtifactError(f"The artifact payload cannot be serialised: {exc}") from exc
    return buffer.getvalue()


def _loads(data: bytes, name: str):
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(
            f"Artifact {name!r} is corrupt or holds types that are not allowed "
            f"(only dicts, lists, tuples, str, numbers, bools, None and torch tensors): {exc}"
        ) from exc


def artifact_name(kind: str, number: int) -> str:
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise ArtifactError(f"Model kind {kind!r} is not usable in an artifact name (letters, digits, _ . -).")
    base = ecom_settings.ARTIFACT_PATH.strip("/")
    return f"{base}/{kind}/{kind}-v{int(number)}.pt" if base else f"{kind}/{kind}-v{int(number)}.pt"


def save_artifact(kind: str, number: int, payload) -> str:
    """Store ``payload`` as the artifact of ``kind`` version ``number``; return the stored name.

    Raises ``ArtifactError`` when the payload holds types ``load_artifact`` would refuse.
    """
    name = artifact_name(kind, number)
    data = _dumps(payload)
    _loads(data, name)  # refuse now what could not be loaded later
    storage = get_storage()
    try:
        return storage.save(name, ContentFile(data))
    except Exception as exc:
        raise ArtifactError(
            f"Could not write artifact {name!r} to storage {ecom_settings.ARTIFACT_STORAGE!r}: {exc}"
        ) from exc


def load_artifact(name: str):
    """Load the artifact stored as ``name``; raises ``ArtifactError`` when missing or corrupt."""
    if not name:
        raise ArtifactError("This model version has no artifact.")
    storage = get_storage()
    alias = ecom_settings.ARTIFACT_STORAGE
    try:
        with storage.open(name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ArtifactError(f"Artifact {name!r} is missing from storage {alias!r}.") from None
    except Exception as exc:
        raise ArtifactError(f"Could not read artifact {name!r} from storage {alias!r}: {exc}") from exc
    if not data:
        raise ArtifactError(f"Artifact {name!r} in storage {alias!r} is empty (corrupt).")
    return _loads(data, name)


def delete_artifact(name: str) -> None:
    """Remove a stored artifact (no error when it is already gone)."""
    if name:
        get_storage().delete(name)
