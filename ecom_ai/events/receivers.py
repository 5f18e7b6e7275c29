"""Events receivers: stitch the browser's visitor key to the user on every login."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_in
from django.db import DatabaseError, transaction
from django.dispatch import receiver

from ecom_ai.events.middleware import get_visitor_key

logger = logging.getLogger("ecom_ai.events")


@receiver(user_logged_in, dispatch_uid="ecom_ai.events.stitch_on_login")
def stitch_visitor_on_login(sender, request, user, **kwargs):
    """A failing stitch is logged and never breaks the login itself."""
    if request is None:
        return
    visitor_key = get_visitor_key(request)
    if not visitor_key:
        return
    from ecom_ai.events.identity import identify

    try:
        with transaction.atomic():
            identify(visitor_key, user, channel="web")
    except (DatabaseError, ValueError):
        logger.exception("could not stitch visitor %s to user on login", visitor_key[:8])
