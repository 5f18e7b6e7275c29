"""Receivers of the chat domain (connected at start-up by ``ecom_ai.receivers``).

- user data export / erasure (``ecom_ai.events.privacy``): the user's conversations and
  messages (``ecom_ai.chat.privacy``);
- logout (``user_logged_out``) rotates the browser's chat binding: the anonymous
  conversations of the browser's visitor key pass to the user who logs out, so the next
  anonymous user of a shared browser starts a new chat instead of reading theirs (orders
  looked up by number and e-mail included). The session, which pointed at the
  conversation, is flushed by the logout itself.
"""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_out
from django.db import DatabaseError, transaction
from django.dispatch import receiver
from django.utils import timezone

from ecom_ai.adapters import get_adapter
from ecom_ai.chat import privacy
from ecom_ai.events.middleware import get_visitor_key

logger = logging.getLogger("ecom_ai.chat")

privacy.register()


@receiver(user_logged_out, dispatch_uid="ecom_ai.chat.rotate_on_logout")
def rotate_chat_binding_on_logout(sender, request, user, **kwargs):
    """A failure is logged and never breaks the logout itself."""
    if request is None or user is None:
        return
    visitor_key = get_visitor_key(request)
    user_key = get_adapter().user_key(user)
    if not visitor_key or not user_key:
        return
    from ecom_ai.models import Conversation

    try:
        with transaction.atomic():
            Conversation.objects.filter(visitor_key=visitor_key, user_key="").update(
                user_key=user_key, updated_at=timezone.now()
            )
    except DatabaseError:
        logger.exception("could not rotate the chat binding of visitor %s on logout", visitor_key[:8])
