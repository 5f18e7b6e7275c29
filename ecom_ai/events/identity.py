"""Identity stitching: a visitor key (cookie, app install, loyalty card) belongs to a user.

``identify()`` records the link in ``VisitorIdentity`` and gives that visitor's anonymous
events the user's key, so history from before the login counts for the user. Later events
of the visitor without a user are filled from the link when they are recorded.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ecom_ai import signals
from ecom_ai.adapters import get_adapter
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events.validation import KEY_LENGTHS
from ecom_ai.models import Event, VisitorIdentity


def _user_key(user_or_user_key) -> str:
    if isinstance(user_or_user_key, (str, int)) and not isinstance(user_or_user_key, bool):
        return str(user_or_user_key)
    return get_adapter().user_key(user_or_user_key)


def identify(visitor_key: str, user_or_user_key, channel: str = "web") -> VisitorIdentity:
    """Stitch ``visitor_key`` to a user (a user object or a user key) and return the link.

    Creates or refreshes the ``VisitorIdentity`` row, sets ``user_key`` on the visitor's
    anonymous events and sends ``ecom_ai.signals.visitor_identified``. Raises ValueError for
    an empty/too long key, an anonymous user or an unknown channel.
    """
    user_key = _user_key(user_or_user_key)
    if not isinstance(visitor_key, str) or not visitor_key:
        raise ValueError("identify() needs a non-empty visitor key")
    if not user_key:
        raise ValueError("identify() needs a logged-in user or a non-empty user key")
    for name, key in (("visitor_key", visitor_key), ("user_key", user_key)):
        if len(key) > KEY_LENGTHS[name]:
            raise ValueError(f"{name} must be at most {KEY_LENGTHS[name]} characters")
    if channel not in ecom_settings.all_channels:
        raise ValueError(f"unknown channel {channel!r}; known: {', '.join(ecom_settings.all_channels)}")

    now = timezone.now()
    with transaction.atomic():
        identity, created = VisitorIdentity.objects.get_or_create(
            visitor_key=visitor_key,
            user_key=user_key,
            defaults={"channel": channel, "first_seen": now, "last_seen": now},
        )
        if not created:
            VisitorIdentity.objects.filter(pk=identity.pk).update(last_seen=now, channel=channel)
            identity.last_seen, identity.channel = now, channel
        Event.objects.filter(visitor_key=visitor_key, user_key="").update(user_key=user_key)
    signals.visitor_identified.send(sender=VisitorIdentity, visitor_key=visitor_key, user_key=user_key, channel=channel)
    return identity
