"""Served lists through a Redis queue: the request pushes, a worker writes them.

With ``RECOMMEND_LOG_MODE = "queue"`` a served list costs the web process one ``RPUSH``
of a small JSON record to ``RECOMMEND_LOG_QUEUE_URL``: no background thread, no database
write and none of their CPU in the web process (on a busy machine that thread's flushes
were the slowest one percent of the requests, see docs/benchmarks.md). A worker takes the
records in order and stores each batch as the buffered mode does
(``ecom_ai.recommend.served_lists``: one transaction for the lists and their impression
events, ``events_recorded`` after it)::

    python manage.py ecom_ai_log_worker          # runs until stopped (SIGTERM / Ctrl-C)
    python manage.py ecom_ai_log_worker --once   # writes what waits, then exits (cron)

or the Celery task ``ecom_ai.tasks.drain_served_lists`` on a beat schedule.

Guarantees:

* a record leaves the queue only after its batch is committed (``LRANGE``, write, ``LTRIM``);
  a worker killed in between leaves it for the next one, which skips lists already stored
  (a list's id is its primary key), so nothing is stored twice;
* one worker drains at a time (a Redis lock that expires if its holder dies);
* a record that cannot be read, or a list the database refuses on its own (its placement
  was deleted...), is dropped with an error naming it; when the database is unreachable,
  nothing is dropped and the worker tries again later;
* when Redis cannot be reached, or ``RECOMMEND_LOG_QUEUE_MAX`` lists already wait (no
  worker running?), the web process keeps the list in its own buffer and writes it itself,
  as in ``"buffered"`` mode, logging the reason at most once a minute.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime, timezone as dt_timezone
from types import SimpleNamespace

from django.db import DatabaseError, close_old_connections

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.recommend.identity import Identity
from ecom_ai.recommend.results import RecommendedItem

logger = logging.getLogger("ecom_ai.recommend")

QUEUE_KEY = "ecom_ai:served_lists"  # the default RECOMMEND_LOG_QUEUE_NAME
LOCK_KEY = QUEUE_KEY + ":worker"
LOCK_SECONDS = 60  # a worker that died releases the queue after this long
FORMAT = 1

_clients: dict = {}
_clients_lock = threading.Lock()
_warned_at = {"push": float("-inf"), "full": float("-inf")}


def client():
    """This process's Redis client for ``RECOMMEND_LOG_QUEUE_URL`` (redis-py's pool is fork-safe)."""
    url = ecom_settings.RECOMMEND_LOG_QUEUE_URL
    found = _clients.get(url)
    if found is None:
        import redis

        with _clients_lock:
            found = _clients.get(url)
            if found is None:
                found = _clients[url] = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    return found


def queue_key() -> str:
    return ecom_settings.RECOMMEND_LOG_QUEUE_NAME


def lock_key() -> str:
    return ecom_settings.RECOMMEND_LOG_QUEUE_NAME + ":worker"


def _warn(kind: str, message: str, *args) -> None:
    now = time.monotonic()
    if now - _warned_at[kind] >= 60.0:
        _warned_at[kind] = now
        logger.error(message, *args)


# --------------------------------------------------------------------------- the web side


def encode(result, served_at: datetime | None = None) -> bytes:
    """A served list as the queue's JSON record."""
    who = result.identity
    variant = result.variant
    return json.dumps(
        {
            "f": FORMAT,
            "id": str(result.id),
            "at": (served_at or datetime.now(dt_timezone.utc)).timestamp(),
            "placement": [result.placement.pk, result.placement.slug],
            "variant": [variant.pk, variant.name] if variant is not None else None,
            "visitor": who.visitor_key,
            "user": who.user_key,
            "channel": who.channel,
            "anchor": result.anchor_item,
            "strategy": result.strategy,
            "model_version": result.model_version_id,
            "items": [[i.key, i.score, i.reason] for i in result.items],
        },
        separators=(",", ":"),
    ).encode()


#: RPUSH only below the maximum length, in one atomic step (a full queue is never overfilled)
PUSH_BELOW_MAX = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
return redis.call('RPUSH', KEYS[1], ARGV[1])
"""
#: after Redis failed, lists skip the queue for this long (a host that does not answer
#: must not cost every request its connect timeout)
RETRY_AFTER_SECONDS = 5.0
_scripts: dict = {}
_down_until = [float("-inf")]


def push(result) -> bool:
    """Queue a served list; False when it was not queued (the caller keeps it instead).

    A lost reply (a timeout after Redis applied the push) may leave the list both queued
    and kept by the caller: whichever is written second is left out as already stored.
    """
    if time.monotonic() < _down_until[0]:
        return False
    redis_client = client()
    try:
        script = _scripts.get(id(redis_client))
        if script is None:
            script = _scripts[id(redis_client)] = redis_client.register_script(PUSH_BELOW_MAX)
        length = script(keys=[queue_key()], args=[encode(result), ecom_settings.RECOMMEND_LOG_QUEUE_MAX])
    except Exception as exc:  # noqa: BLE001 - Redis down: the web process writes the list itself
        _down_until[0] = time.monotonic() + RETRY_AFTER_SECONDS
        _warn(
            "push",
            "ecom_ai: served lists are written by the web process: the queue %s cannot be reached (%s: %s)",
            ecom_settings.RECOMMEND_LOG_QUEUE_URL,
            type(exc).__name__,
            exc,
        )
        return False
    if length < 0:
        _warn(
            "full",
            "ecom_ai: %d served lists wait in the queue (RECOMMEND_LOG_QUEUE_MAX); is "
            "`manage.py ecom_ai_log_worker` running? The web processes write new ones meanwhile.",
            ecom_settings.RECOMMEND_LOG_QUEUE_MAX,
        )
        return False
    return True


# --------------------------------------------------------------------------- the worker side


def _text(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def decode(raw: bytes):
    """``(result-like object, served_at)`` of one record; raises ValueError when unreadable."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("f") != FORMAT:
            raise ValueError(f"not a format {FORMAT} record")
        placement_pk, placement_slug = data["placement"]
        variant = data.get("variant")
        result = SimpleNamespace(
            id=uuid.UUID(data["id"]),
            placement=SimpleNamespace(pk=int(placement_pk), slug=_text(placement_slug)),
            variant=SimpleNamespace(pk=int(variant[0]), name=_text(variant[1])) if variant else None,
            identity=Identity(
                visitor_key=_text(data["visitor"]), user_key=_text(data["user"]), channel=_text(data["channel"])
            ),
            anchor_item=_text(data["anchor"]),
            strategy=_text(data["strategy"]),
            model_version_id=None if data["model_version"] is None else int(data["model_version"]),
            items=[RecommendedItem(_text(k), float(s), _text(r)) for k, s, r in data["items"]],
        )
        served_at = datetime.fromtimestamp(float(data["at"]), dt_timezone.utc)
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"unreadable served-list record ({type(exc).__name__}: {exc}): {raw[:200]!r}") from None
    return result, served_at


def waiting() -> int:
    """How many served lists wait in the queue."""
    return int(client().llen(queue_key()))


def drain(*, batch_size: int | None = None, max_lists: int | None = None) -> int:
    """Store the lists waiting in the queue, oldest first; returns how many were stored.

    Returns 0 at once when another worker holds the queue. Raises ``DatabaseError`` when the
    database fails (the batch stays queued) and Redis' errors when the queue cannot be read.
    """
    from ecom_ai.recommend import served_lists

    size = max(1, int(batch_size or ecom_settings.RECOMMEND_LOG_BATCH_SIZE))
    redis_client = client()
    lock = redis_client.lock(lock_key(), timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        return 0
    stored = 0
    try:
        while max_lists is None or stored < max_lists:
            take = size if max_lists is None else min(size, max_lists - stored)
            raws = redis_client.lrange(queue_key(), 0, take - 1)
            if not raws:
                break
            pendings = []
            for raw in raws:
                try:
                    result, served_at = decode(raw)
                    pendings.append(served_lists.build(result, served_at))
                except Exception as exc:  # noqa: BLE001 - one bad record must not block the queue
                    logger.error("ecom_ai: served-list record dropped: %s", exc)
            # lists stored already (a worker stopped before LTRIM) are left out; a list the
            # database refuses on its own is dropped (logged); a database failure raises
            stored += served_lists.store_all(pendings)
            redis_client.ltrim(queue_key(), len(raws), -1)
            if len(raws) < take:  # what waited is stored: the rest comes in the next pass as one
                break  # batch, not one small transaction per list trickling in
            lock.reacquire()  # the full timeout again for the next batch
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired meanwhile: nothing to release
            pass
    return stored


def run_worker(*, interval: float | None = None, stop=None, once: bool = False) -> int:
    """Drain the queue until ``stop()`` is true (or once); returns how many lists were stored.

    A database or Redis failure is logged and tried again after ``interval`` seconds
    (default ``RECOMMEND_LOG_FLUSH_SECONDS``), never ends the loop.
    """
    interval = float(interval if interval is not None else ecom_settings.RECOMMEND_LOG_FLUSH_SECONDS)
    stop = stop or (lambda: False)
    total = 0
    while True:
        try:
            close_old_connections()
            total += drain()
        except DatabaseError as exc:
            logger.error("ecom_ai: served lists wait in the queue: the database failed (%s)", exc)
        except Exception:  # noqa: BLE001 - Redis down...: keep trying
            logger.exception("ecom_ai: the served-list queue could not be drained")
        if once or stop():
            return total
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline and not stop():
            time.sleep(min(0.1, interval))
