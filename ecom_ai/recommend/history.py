"""Serving stage 2, what the shopper did: ``ShopperState`` from their latest events.

``fetch_history`` reads the latest events of a shopper with one indexed query;
``read_state`` goes through the shared history cache first (``history_cache``: the
state is reused between two events of the same shopper, in every process) and stores
what it read there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connections, router
from django.db.models import Q

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import Event
from ecom_ai.recommend import history_cache
from ecom_ai.recommend.identity import Identity


@dataclass
class ShopperState:
    """What the latest events say about the shopper, read once per request."""

    history: list[tuple[str, str, str]] = field(default_factory=list)  # (item, type, channel) oldest first
    cart: list[str] = field(default_factory=list)
    purchased: set[str] = field(default_factory=set)
    recent: dict[str, float] = field(default_factory=dict)  # item -> interest weight

    @classmethod
    def from_events(cls, rows, history_length: int | None = None) -> "ShopperState":
        """``rows``: (item_key, event_type, channel) oldest → newest.

        Purchases and the cart are read from all rows; the sequence and the interest
        weights from the latest ``history_length`` (default ``RECOMMEND_HISTORY_LENGTH``).
        """
        state = cls()
        weights = ecom_settings.RECOMMEND_EVENT_WEIGHTS
        history_length = history_length or ecom_settings.RECOMMEND_HISTORY_LENGTH
        cart: dict[str, None] = {}
        first_recent = max(len(rows) - history_length, 0)
        n = len(rows)
        for i, (key, event_type, channel) in enumerate(rows):
            if not key:
                continue
            if event_type == "add_to_cart":
                cart[key] = None
            elif event_type in ("remove_from_cart", "purchase"):
                cart.pop(key, None)
            if event_type == "purchase":
                state.purchased.add(key)
            if i < first_recent:
                continue
            state.history.append((key, event_type, channel))
            weight = float(weights.get(event_type, 0.0))
            if weight:
                recency = 0.85 ** (n - 1 - i)
                state.recent[key] = state.recent.get(key, 0.0) + weight * recency
        state.cart = list(cart)
        return state

    def top_recent(self, n: int = 5) -> dict[str, float]:
        return dict(sorted(self.recent.items(), key=lambda pair: -pair[1])[:n])


#: how many latest events are read for the purchased / in-cart exclusions (the model sees fewer)
EVENTS_SCANNED = 500


def fetch_history(identity: Identity, length: int | None = None) -> list[tuple[str, str, str]]:
    """The shopper's latest events, oldest first: one query on the (user|visitor, time) indexes.

    ``length`` defaults to ``max(RECOMMEND_HISTORY_LENGTH, EVENTS_SCANNED)``. The query runs
    on every served list, so its SQL is compiled by the ORM once per shape and database
    and then executed directly (compiling it costs more CPU than running it).
    """
    if not (identity.user_key or identity.visitor_key):
        return []
    length = length or max(ecom_settings.RECOMMEND_HISTORY_LENGTH, EVENTS_SCANNED)
    alias = router.db_for_read(Event)
    sql, slots = _history_sql(alias, bool(identity.user_key), bool(identity.visitor_key), int(length))
    values = {_USER_SLOT: identity.user_key, _VISITOR_SLOT: identity.visitor_key}
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [values.get(p, p) if isinstance(p, str) else p for p in slots])
        rows = [tuple(row) for row in cursor.fetchall()]
    rows.reverse()
    return rows


_USER_SLOT, _VISITOR_SLOT = "\x00ecom_ai:user_key", "\x00ecom_ai:visitor_key"
_history_sql_cache: dict[tuple, tuple[str, tuple]] = {}


def _history_sql(alias: str, by_user: bool, by_visitor: bool, length: int) -> tuple[str, tuple]:
    """``(sql, params)`` of the history query, with placeholders standing for the keys."""
    key = (alias, by_user, by_visitor, length)
    cached = _history_sql_cache.get(key)
    if cached is None:
        condition = Q()
        if by_user:
            condition |= Q(user_key=_USER_SLOT)
        if by_visitor:
            condition |= Q(visitor_key=_VISITOR_SLOT)
        query = (
            Event.objects.using(alias)
            .filter(condition)
            .exclude(event_type="impression")
            .order_by("-occurred_at", "-pk")
            .values_list("item_key", "event_type", "channel")[:length]
        ).query
        sql, params = query.get_compiler(using=alias).as_sql()
        cached = _history_sql_cache[key] = (sql, tuple(params))
    return cached


def read_snapshot(identity: Identity, extra_keys=()) -> history_cache.Snapshot:
    """The shopper's cache tokens, cached state and the ``extra_keys`` entries (one round trip);
    ``history_cache.OFF`` for an unknown shopper or without a shared cache."""
    if not identity:
        return history_cache.OFF
    return history_cache.read(identity, ecom_settings.RECOMMEND_HISTORY_LENGTH, extra_keys)


def read_state(identity: Identity, snapshot: history_cache.Snapshot) -> ShopperState:
    """The shopper's state: the cached one of ``snapshot``, else read from the event log (and
    kept in the cache under the snapshot's tokens)."""
    if snapshot.state is not None:
        return snapshot.state
    state = ShopperState.from_events(fetch_history(identity)) if identity else ShopperState()
    history_cache.store(identity, ecom_settings.RECOMMEND_HISTORY_LENGTH, snapshot, state)
    return state
