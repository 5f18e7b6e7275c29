"""Limits on failed order look-ups in the chat, across sessions: per client IP and per order number.

The conversation's own limit (``CHAT_MAX_ORDER_LOOKUP_FAILURES``) resets with a new session;
these counters live in Django's cache, so a guesser who opens new sessions (or new
browsers) is still stopped:

- ``CHAT_ORDER_LOOKUP_FAILURES_PER_IP`` failures from one client IP, and
- ``CHAT_ORDER_LOOKUP_FAILURES_PER_ORDER`` failures on one order number (a distributed guess
  of one order's e-mail),

within ``CHAT_ORDER_LOOKUP_WINDOW_SECONDS``. Once either is reached, anonymous look-ups by
order number and e-mail stop for that IP or order (the chat offers a hand-off to staff); a
logged-in shopper still sees their own orders (that path never looks up by e-mail).

The chat view passes the client IP (DRF's ``get_ident``: ``REMOTE_ADDR``, or the forwarded
address when ``NUM_PROXIES`` is set); called without one, the current request's
``REMOTE_ADDR`` is used. The order number is stored hashed.
If the cache is unavailable the limits are skipped with a log line (the per-conversation
limit still holds).

    from ecom_ai.chat import lookup_limits

    if lookup_limits.blocked(ip=client_ip, number=number): ...
    lookup_limits.record_failure(number, ip=client_ip)
"""

from __future__ import annotations

import hashlib
import logging

from ecom_ai.resilient_cache import cache  # a cache outage reads as "no failures counted"

from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger("ecom_ai.chat")

PREFIX = "ecom_ai:chat:lookup_failures"


def client_ip(request=None) -> str:
    """The current request's client IP (``REMOTE_ADDR``), or "" outside a request."""
    if request is None:
        from ecom_ai.events.middleware import current_request

        request = current_request()
    meta = getattr(request, "META", None) or {}
    return str(meta.get("REMOTE_ADDR") or "")[:64]


def normalize_number(number: str) -> str:
    return str(number or "").strip().lstrip("#").upper()


def _keys(number: str, ip: str) -> list[tuple[str, int]]:
    """(cache key, limit) of each counter that applies."""
    keys = []
    if ip:
        keys.append(
            (
                f"{PREFIX}:ip:{hashlib.sha256(ip.encode()).hexdigest()[:32]}",
                ecom_settings.CHAT_ORDER_LOOKUP_FAILURES_PER_IP,
            )
        )
    normalized = normalize_number(number)
    if normalized:
        digest = hashlib.sha256(normalized.encode("utf-8", "replace")).hexdigest()[:32]
        keys.append((f"{PREFIX}:order:{digest}", ecom_settings.CHAT_ORDER_LOOKUP_FAILURES_PER_ORDER))
    return keys


def is_blocked(number: str, *, ip: str | None = None) -> bool:
    """Whether look-ups of ``number`` (from ``ip``, default: the current request's) are stopped."""
    keys = _keys(number, client_ip() if ip is None else ip)
    if not keys:
        return False
    try:
        counts = cache.get_many([key for key, _limit in keys])
    except Exception:  # the cache is down: the per-conversation limit still holds
        logger.warning("chat order look-up limits skipped: the cache is unavailable", exc_info=True)
        return False
    return any(int(counts.get(key) or 0) >= limit for key, limit in keys)


def blocked(*, ip: str = "", number: str = "") -> bool:
    """``is_blocked`` as the chat service calls it (``ecom_ai.chat.service._lookup_blocked``)."""
    return is_blocked(number, ip=ip)


def record_failure(number: str, *, ip: str | None = None) -> None:
    """Count one failed look-up of ``number`` against the IP and the order number."""
    window = ecom_settings.CHAT_ORDER_LOOKUP_WINDOW_SECONDS
    for key, _limit in _keys(number, client_ip() if ip is None else ip):
        try:
            if cache.add(key, 1, timeout=window):
                continue
            try:
                cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.add(key, 1, timeout=window)
        except Exception:
            logger.warning("chat order look-up failure not counted: the cache is unavailable", exc_info=True)
            return


def reset(number: str = "", *, ip: str = "") -> None:
    """Forget the failures of an order number and/or an IP (admin, tests)."""
    try:
        cache.delete_many([key for key, _limit in _keys(number, ip)])
    except Exception:
        logger.warning("chat order look-up limits not reset: the cache is unavailable", exc_info=True)
