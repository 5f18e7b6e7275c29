"""Since when each model version has been unusable (its artifact would not load).

``registry.load_active`` and ``ecom_ai.ml.health`` note failures and successes here; the
first failure's time is kept in this process and in the shared cache (through
``ecom_ai.resilient_cache``), so every process reports the same "fallback in use since".
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from datetime import timezone as dt_timezone

from ecom_ai.resilient_cache import cache

_SINCE_KEY = "ecom_ai:ml:unusable-since:{pk}"
_since: dict[int, float] = {}
_lock = threading.Lock()


def record_unusable(version_id: int | None) -> datetime:
    """Note that ``version_id`` could not be loaded (kept from the first time); returns since when."""
    now = time.time()
    if version_id is None:
        return datetime.fromtimestamp(now, dt_timezone.utc)
    with _lock:
        local = _since.setdefault(version_id, now)
    key = _SINCE_KEY.format(pk=version_id)
    cache.add(key, local, timeout=None)
    shared = cache.get(key)
    first = min(local, shared) if isinstance(shared, (int, float)) else local
    return datetime.fromtimestamp(first, dt_timezone.utc)


def record_usable(version_id: int | None) -> None:
    """``version_id`` loaded: forget that it was unusable."""
    if version_id is None:
        return
    with _lock:
        known = _since.pop(version_id, None)
    if known is not None:
        cache.delete(_SINCE_KEY.format(pk=version_id))


def clear() -> None:
    with _lock:
        _since.clear()
