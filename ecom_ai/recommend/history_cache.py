"""The shoppers' recent-event state, kept in the shared Django cache between their events.

Every served list starts from what the shopper's latest events say (``ShopperState``:
the sequence the model reads, the cart, what they bought). Reading that from the event
log costs one indexed query per list, and on PostgreSQL the database's own work for a
shopper with a few hundred events (planning, a bitmap heap scan, a sort) was about a
millisecond of CPU — more than the rest of a served list. Between two events of the same
shopper the answer cannot change, so it is cached:

- one entry per identity (user key and/or visitor key) holds the state and the
  **tokens** it was read under; a token is a random value per key (``u:`` user, ``v:``
  visitor) in the cache;
- a read fetches the entry and its tokens in one ``get_many`` (one round trip to Redis
  or Memcached) and uses the entry only if the tokens are present and unchanged;
- every new event of a shopper (``events_recorded``, impressions aside) and an identity
  link (``visitor_identified``, which moves events to the user) **delete** the shopper's
  tokens, at once and again when the transaction commits; an erasure deletes the shared
  **epoch** token, which every entry carries too, so no cached history at all is used
  after it (the erased events may sit in a visitor shared with other users). A deleted (or evicted,
  or expired) token is never trusted: the next read goes to the database, creates fresh
  tokens and stores what it read under them. An event that lands while a read is under way
  changes the tokens, so the state that read stores is never used.

So a shopper's next list reflects their last event exactly as without the cache (the
real-time reaction is unchanged), in every process, as long as the cache is shared. With a
per-process cache (``LocMemCache``, ``DummyCache``: Django's default) other web processes
could not see a token deleted by the process that recorded the event, so the cache is
only used with a shared backend (``RECOMMEND_HISTORY_CACHE = "auto"``). Writes to the
event table that bypass ``ecom_ai.events`` (a raw ``Event.objects...update()``, the
retention purge) are seen after ``RECOMMEND_HISTORY_CACHE_SECONDS`` at the latest, and so
is an event recorded while the cache was unreachable (its tokens could not be deleted).
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
from typing import Any, NamedTuple

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.recommend.identity import Identity
from ecom_ai.resilient_cache import cache

logger = logging.getLogger("ecom_ai.recommend")

PREFIX = "ecom_ai:rec:shopper:"
#: cache backends whose entries other processes cannot see
PER_PROCESS_BACKENDS = ("django.core.cache.backends.locmem", "django.core.cache.backends.dummy")
_FORMAT = 1  # bumped when the cached value's layout changes (old entries are then ignored)


def enabled() -> bool:
    setting = ecom_settings.RECOMMEND_HISTORY_CACHE
    if not setting or ecom_settings.RECOMMEND_HISTORY_CACHE_SECONDS <= 0:
        return False
    if setting == "auto":
        return type(caches[DEFAULT_CACHE_ALIAS]).__module__ not in PER_PROCESS_BACKENDS
    return True


_WARN_EVERY = 60.0  # seconds: a cache outage is logged once a minute per process, not on every list
_warned = {"at": float("-inf"), "suppressed": 0}
_warn_lock = threading.Lock()


def warn_unavailable(message: str) -> None:
    """Log a failed cache read or write (the list is still served) at most once a minute."""
    now = time.monotonic()
    with _warn_lock:
        if now - _warned["at"] < _WARN_EVERY:
            _warned["suppressed"] += 1
            return
        suppressed, _warned["suppressed"], _warned["at"] = _warned["suppressed"], 0, now
    logger.warning(
        "ecom_ai: %s (serving from the database; %d similar failures not logged in the last minute)",
        message,
        suppressed,
        exc_info=True,
    )


def whole_seconds(seconds) -> int:
    """A cache timeout in whole seconds, rounded up: Django's Redis and Memcached backends
    truncate, and a timeout of 0 deletes."""
    return math.ceil(float(seconds))


def _seconds() -> int:
    return whole_seconds(ecom_settings.RECOMMEND_HISTORY_CACHE_SECONDS)


def _digest(text: str) -> str:
    # keys are arbitrary strings (memcached refuses spaces and long keys): hash them
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def token_key(kind: str, key: str) -> str:
    return f"{PREFIX}tok:{kind}:{_digest(key)}"


EPOCH_KEY = f"{PREFIX}tok:epoch"  # every entry's token too: deleting it retires all entries at once


def _token_keys(identity) -> list[str]:
    if not (identity.user_key or identity.visitor_key):
        return []
    keys = [EPOCH_KEY]
    if identity.user_key:
        keys.append(token_key("u", identity.user_key))
    if identity.visitor_key:
        keys.append(token_key("v", identity.visitor_key))
    return keys


def _state_key(identity, length: int) -> str:
    return f"{PREFIX}state:{_FORMAT}:{length}:{_digest(identity.user_key + chr(0) + identity.visitor_key)}"


class Snapshot(NamedTuple):
    """What one cache read says about a shopper: ``tokens`` (``None``: the cache is off or
    unavailable), the ``state`` stored under exactly those tokens (``None``: none) and the
    ``extra`` entries read in the same round trip (``{key: value}``, found ones only)."""

    tokens: tuple | None
    state: Any = None
    extra: dict | None = None


OFF = Snapshot(None)


def _get_many(keys: list[str]) -> dict:
    """``cache.get_many(keys)``; with Django's own Redis backend, through one kept client.

    Django's ``RedisCache`` builds a new ``redis.Redis`` client for every call (its
    constructor fills a case-insensitive table of ~170 reply callbacks), which cost more
    CPU than the round trip itself on every served list. The client it builds is kept on
    the backend's client object (per thread, like Django's cache connections) and asked
    for a plain ``MGET``; keys and values go through the backend's own ``make_key`` and
    serializer, so entries are the same as ``get_many``'s. Any other backend, or a Django
    whose internals differ, uses ``get_many``.
    """
    backend = caches[DEFAULT_CACHE_ALIAS]
    holder = getattr(backend, "_cache", None) if isinstance(backend, RedisCache) else None
    serializer = getattr(holder, "_serializer", None)
    if holder is None or serializer is None or not hasattr(holder, "get_client"):
        return backend.get_many(keys)
    client = holder.__dict__.get("_ecom_ai_reader")
    if client is None:
        client = holder.__dict__["_ecom_ai_reader"] = holder.get_client(None, write=False)
    values = client.mget([backend.make_key(k) for k in keys])
    found = {}
    for key, value in zip(keys, values):
        if value is not None:
            try:
                found[key] = serializer.loads(value)
            except Exception:  # noqa: BLE001 - e.g. an entry pickled by other code: as if missing
                continue
    return found


def read(identity, length: int, extra_keys=()) -> Snapshot:
    """The shopper's tokens and cached state in one round trip (more only when a token is
    missing and has to be created), with ``extra_keys`` (entries that hold their own tokens,
    like served lists). ``length``: the history length the state is built with. A cache
    error gives ``OFF``: the cache can only save work, never change a list."""
    token_keys = _token_keys(identity)
    if not token_keys or not enabled():
        return OFF
    state_key = _state_key(identity, length)
    try:
        found = _get_many(token_keys + [state_key, *extra_keys])
        tokens = tuple(found.get(k) for k in token_keys)
        if None not in tokens:
            entry = found.get(state_key)
            valid = isinstance(entry, tuple) and len(entry) == 2 and entry[0] == tokens
            return Snapshot(tokens, entry[1] if valid else None, {k: found[k] for k in extra_keys if k in found})
        timeout = 2 * _seconds()
        for key, token in zip(token_keys, tokens):
            if token is None:  # a new random token: no stored entry can carry it
                cache.add(key, secrets.token_hex(8), timeout=timeout)
        current = _get_many(token_keys)
        for key in token_keys:
            if current.get(key) is None:  # still none: the key holds something unreadable; replace it
                current[key] = secrets.token_hex(8)
                cache.set(key, current[key], timeout=timeout)
        tokens = tuple(current.get(k) for k in token_keys)
    except Exception:  # noqa: BLE001 - a cache outage: serve from the database
        warn_unavailable("the shopper history cache is unavailable")
        return OFF
    return Snapshot(tokens if None not in tokens else None)


def store(identity, length: int, snapshot: Snapshot, state) -> None:
    """Keep ``state`` (read from the log *after* ``snapshot``) under the snapshot's tokens."""
    if snapshot.tokens is None:
        return
    try:
        cache.set(_state_key(identity, length), (snapshot.tokens, state), timeout=_seconds())
    except Exception:  # noqa: BLE001
        warn_unavailable("could not store a shopper's history")


def forget(user_keys=(), visitor_keys=(), *, everyone: bool = False) -> None:
    """These shoppers' events changed: their cached state is no longer used (in any process).

    Deletes their tokens now and again when the current transaction commits (a read
    between the two could have stored the uncommitted past). ``everyone``: every shopper's
    entries are retired (the shared epoch token), e.g. after an erasure, whose events may
    also sit in the history of a visitor shared with other users. Never raises.
    """
    keys = sorted({token_key("u", k) for k in user_keys if k} | {token_key("v", k) for k in visitor_keys if k})
    if everyone:
        keys.append(EPOCH_KEY)
    if not keys or not enabled():
        return

    def delete():
        try:
            cache.delete_many(keys)
        except Exception:  # noqa: BLE001 - entries still expire after RECOMMEND_HISTORY_CACHE_SECONDS
            logger.warning("ecom_ai: could not invalidate %d shopper histories", len(keys), exc_info=True)

    delete()
    try:
        transaction.on_commit(delete)
    except Exception:  # noqa: BLE001 - e.g. no database configured
        pass


# --- receivers (connected by ecom_ai.recommend.receivers) ----------------------------------


def on_events_recorded(sender, events=(), **kwargs) -> None:
    users, visitors = set(), set()
    for event in events:
        if event.event_type == "impression":  # not part of any history
            continue
        users.add(event.user_key)
        visitors.add(event.visitor_key)
    forget(users, visitors)


def on_user_erased(user_key, visitor_keys) -> None:
    """An erasure: no cached history is used any more, and the erased user's own entries go."""
    forget([user_key], visitor_keys, everyone=True)
    if not enabled():
        return
    identities = (
        [Identity(user_key=user_key)]
        + [Identity(visitor_key=v) for v in visitor_keys]
        + [Identity(visitor_key=v, user_key=user_key) for v in visitor_keys]
    )
    try:
        cache.delete_many([_state_key(who, ecom_settings.RECOMMEND_HISTORY_LENGTH) for who in identities])
    except Exception:  # noqa: BLE001 - retired by the epoch anyway; gone after the TTL
        logger.warning("ecom_ai: could not delete the erased user's cached history", exc_info=True)


def on_visitor_identified(sender, visitor_key="", user_key="", **kwargs) -> None:
    forget([user_key], [visitor_key])
