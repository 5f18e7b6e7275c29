"""Data export and erasure for one user (GDPR-style access and deletion requests).

``export_user_data(user_key)`` gathers everything ecom_ai stores about a user;
``erase_user_data(user_key)`` deletes it. Each area contributes its own part through a
small registry, so chat, fraud and others add their data without touching this module::

    from ecom_ai.events import privacy

    def export_chats(user_key, visitor_keys):
        return [...]          # JSON-serialisable

    def erase_chats(user_key, visitor_keys):
        return {"chat_conversations": n}    # counts of deleted rows

    privacy.register("chat", exporter=export_chats, eraser=erase_chats)

Both callbacks get the user key and the visitor keys that belong to this user only
(``user_visitor_keys()``): visitors stitched to the user and to no other user. Data of
another user is never exported nor erased.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from ecom_ai.models import Event, VisitorIdentity

Exporter = Callable[[str, list], object]
Eraser = Callable[[str, list], dict]


@dataclass(frozen=True)
class PrivacySection:
    name: str
    exporter: Exporter | None
    eraser: Eraser | None


_registry: dict[str, PrivacySection] = {}


def register(name: str, *, exporter: Exporter | None = None, eraser: Eraser | None = None) -> None:
    """Add (or replace) an area's exporter/eraser under ``name`` (the key in the export)."""
    if name in ("user_key", "exported_at"):
        raise ValueError(f"{name!r} is reserved")
    _registry[name] = PrivacySection(name, exporter, eraser)


def unregister(name: str) -> None:
    _registry.pop(name, None)


def registered_sections() -> list[str]:
    return list(_registry)


def user_visitor_keys(user_key: str) -> list[str]:
    """Visitor keys stitched to ``user_key`` and to no other user."""
    mine = VisitorIdentity.objects.filter(user_key=user_key).values("visitor_key")
    shared = (
        VisitorIdentity.objects.filter(visitor_key__in=mine)
        .values("visitor_key")
        .annotate(users=Count("user_key", distinct=True))
        .filter(users=1)
        .values_list("visitor_key", flat=True)
    )
    return sorted(shared)


def user_events(user_key: str, visitor_keys: list[str]):
    """The user's events and the anonymous events of their own visitors."""
    query = Q(user_key=user_key)
    if visitor_keys:
        query |= Q(visitor_key__in=visitor_keys, user_key="")
    return Event.objects.filter(query)


EVENT_EXPORT_FIELDS = (
    "event_type",
    "channel",
    "visitor_key",
    "user_key",
    "item_key",
    "quantity",
    "value",
    "context",
    "client_time",
    "occurred_at",
    "received_at",
    "client_event_id",
    "source",
)


def _export_events(user_key: str, visitor_keys: list[str]) -> list[dict]:
    rows = user_events(user_key, visitor_keys).order_by("occurred_at", "pk").values(*EVENT_EXPORT_FIELDS)
    return list(rows.iterator(chunk_size=2000))


def _erase_events(user_key: str, visitor_keys: list[str]) -> dict:
    deleted, _ = user_events(user_key, visitor_keys).delete()
    return {"events": deleted}


def _export_identities(user_key: str, visitor_keys: list[str]) -> list[dict]:
    return list(
        VisitorIdentity.objects.filter(user_key=user_key)
        .order_by("first_seen", "pk")
        .values("visitor_key", "user_key", "channel", "first_seen", "last_seen")
    )


def _erase_identities(user_key: str, visitor_keys: list[str]) -> dict:
    deleted, _ = VisitorIdentity.objects.filter(user_key=user_key).delete()
    return {"identities": deleted}


register("events", exporter=_export_events, eraser=_erase_events)
register("identities", exporter=_export_identities, eraser=_erase_identities)


def _check_user_key(user_key) -> str:
    if not isinstance(user_key, str) or not user_key.strip():
        raise ValueError("a non-empty user key is required")
    return user_key


def export_user_data(user_key: str) -> dict:
    """Everything ecom_ai stores about ``user_key``, JSON-serialisable.

    ``{"user_key", "exported_at", "events": [...], "identities": [...], <other areas>...}``
    """
    user_key = _check_user_key(user_key)
    visitor_keys = user_visitor_keys(user_key)
    data: dict = {"user_key": user_key, "exported_at": timezone.now()}
    for section in list(_registry.values()):
        if section.exporter is not None:
            data[section.name] = section.exporter(user_key, visitor_keys)
    # round trip: datetimes, decimals, UUIDs become strings
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def erase_user_data(user_key: str) -> dict:
    """Delete everything ecom_ai stores about ``user_key``; return counts per kind of row.

    One transaction: either all areas erase or none does.
    """
    user_key = _check_user_key(user_key)
    counts: dict = {}
    with transaction.atomic():
        visitor_keys = user_visitor_keys(user_key)
        # identities last: the other erasers may still need the visitor links
        sections = sorted(_registry.values(), key=lambda s: s.name == "identities")
        for section in sections:
            if section.eraser is not None:
                for key, value in (section.eraser(user_key, visitor_keys) or {}).items():
                    counts[key] = counts.get(key, 0) + value
    return counts
