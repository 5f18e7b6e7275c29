"""Device choice and seeding for training and serving.

``ECOM_AI["DEVICE"]``: ``"auto"`` (default) picks CUDA when torch sees a GPU, then Apple
MPS, then the CPU. An explicit ``"cuda"``, ``"cuda:N"`` or ``"mps"`` that this machine cannot
provide raises ``DeviceUnavailable`` (a clear error rather than a silent, much slower CPU
run); use ``"auto"`` where falling back to the CPU is fine.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from django.core.exceptions import ImproperlyConfigured

from ecom_ai.conf import settings as ecom_settings


class DeviceUnavailable(ImproperlyConfigured):
    """The configured device does not exist on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def get_device(preference: str | None = None) -> torch.device:
    """Return the torch device to use: ``preference`` or ``ECOM_AI["DEVICE"]``."""
    choice = (preference or ecom_settings.DEVICE or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice.startswith("cuda"):
        try:
            device = torch.device(choice)
        except RuntimeError as exc:
            raise DeviceUnavailable(f"Device {choice!r} is not a valid torch device: {exc}") from None
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"Device {choice!r} was requested but torch sees no CUDA GPU "
                f"(torch {torch.__version__}, built with CUDA: {torch.version.cuda or 'no'}). "
                "Install a CUDA build of torch on this worker, or set ECOM_AI['DEVICE'] = 'auto' "
                "to fall back to the CPU."
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceUnavailable(f"Device {choice!r} was requested but only {count} CUDA device(s) exist.")
        return device
    if choice == "mps":
        if not _mps_available():
            raise DeviceUnavailable(
                "Device 'mps' was requested but Apple MPS is not available here; use ECOM_AI['DEVICE'] = 'auto'."
            )
        return torch.device("mps")
    raise DeviceUnavailable(f"Unknown device {choice!r}: use auto, cpu, cuda, cuda:N or mps.")


def seed_everything(seed: int | None = None) -> None:
    """Seed Python's, NumPy's and torch's (CPU and all GPUs) random generators.

    ``seed`` defaults to ``ECOM_AI["SEED"]``. Results are then repeatable on one machine and
    device type; GPU kernels may still differ in the last bits.
    """
    if seed is None:
        seed = ecom_settings.SEED
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
