"""Serving stage 1a, who the list is for: ``Identity`` and ``resolve_identity``."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_ai.adapters import get_adapter


@dataclass(frozen=True)
class Identity:
    """Who the list is for: a visitor key (cookie, app install…), a user key, or both."""

    visitor_key: str = ""
    user_key: str = ""
    channel: str = "web"

    @property
    def bucket_key(self) -> str:
        return self.visitor_key or (f"user:{self.user_key}" if self.user_key else "")

    def __bool__(self):
        return bool(self.visitor_key or self.user_key)


def resolve_identity(who, channel: str | None = None) -> Identity:
    """An ``Identity`` from a request, a host user, an Identity, a dict or None (``channel``:
    replaces the one found)."""
    identity = _resolve(who)
    if channel:
        identity = Identity(identity.visitor_key, identity.user_key, channel)
    return identity


def _resolve(who) -> Identity:
    if isinstance(who, Identity):
        return who
    if who is None:
        return Identity()
    if isinstance(who, dict):
        return Identity(
            visitor_key=str(who.get("visitor_key") or ""),
            user_key=str(who.get("user_key") or ""),
            channel=str(who.get("channel") or "web"),
        )
    if hasattr(who, "META") and hasattr(who, "method"):  # an HttpRequest
        from ecom_ai.events.middleware import get_visitor_key

        user = getattr(who, "user", None)
        user_key = get_adapter().user_key(user) if user is not None else ""
        return Identity(visitor_key=get_visitor_key(who), user_key=user_key)
    return Identity(user_key=get_adapter().user_key(who))
