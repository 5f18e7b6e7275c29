"""Authentication for the events endpoint.

- ``ChannelKeyAuthentication``: server-to-server senders, header ``Authorization: Api-Key <raw key>``.
- ``BrowserSessionAuthentication``: browsers, the Django session (anonymous shoppers too),
  with CSRF enforced on every request, logged in or not.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from ecom_ai.models import ChannelKey
from ecom_ai.models.events import hash_api_key

KEYWORD = "Api-Key"
#: last_used_at is written at most this often per key (one cheap UPDATE, not one per request)
LAST_USED_RESOLUTION = timedelta(seconds=60)


def touch_last_used(key: ChannelKey) -> None:
    now = timezone.now()
    if key.last_used_at is not None and key.last_used_at > now - LAST_USED_RESOLUTION:
        return
    ChannelKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    key.last_used_at = now


def _is_deactivated(raw: str) -> bool:
    if not raw.startswith("eai_"):
        return False
    prefix = raw[4 : 4 + ChannelKey.PREFIX_LENGTH]
    key = ChannelKey.objects.filter(prefix=prefix, is_active=False).first()
    return key is not None and key.key_hash == hash_api_key(raw)


class ChannelKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <raw key>``; ``request.auth`` is the ChannelKey."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _sep, raw = header.partition(" ")
        if scheme.lower() != KEYWORD.lower():
            return None
        raw = raw.strip()
        if not raw or " " in raw or not raw.isprintable():  # NUL and other controls never reach the database
            raise exceptions.AuthenticationFailed(_("Malformed Api-Key header: use 'Authorization: Api-Key <key>'."))
        key = ChannelKey.find(raw)
        if key is None:
            if _is_deactivated(raw):
                raise exceptions.PermissionDenied(_("This API key has been deactivated."))
            raise exceptions.AuthenticationFailed(_("Invalid API key."))
        touch_last_used(key)
        return AnonymousUser(), key

    def authenticate_header(self, request):
        return f'{KEYWORD} realm="ecom_ai"'


class BrowserSessionAuthentication(SessionAuthentication):
    """The session user (or an anonymous shopper); CSRF is checked for every request."""

    def authenticate(self, request):
        user = getattr(request._request, "user", None) or AnonymousUser()
        self.enforce_csrf(request)
        return user, None


class ChannelKeyScheme(OpenApiAuthenticationExtension):
    target_class = "ecom_ai.api.events.authentication.ChannelKeyAuthentication"
    name = "ChannelApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Server-to-server senders: `Authorization: Api-Key <key>` (a ChannelKey).",
        }


class BrowserSessionScheme(OpenApiAuthenticationExtension):
    target_class = "ecom_ai.api.events.authentication.BrowserSessionAuthentication"
    name = "BrowserSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Browsers: Django session cookie (optional; anonymous shoppers too) "
            "plus the X-CSRFToken header.",
        }
