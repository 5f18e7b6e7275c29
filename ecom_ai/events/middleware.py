"""Visitor middleware: gives every browser a signed visitor key cookie."""
from __future__ import annotations

import functools
import uuid

from django.conf import settings as django_settings
from django.core import signing
from django.http import HttpRequest

from ecom_ai.conf import settings as ecom_settings

SALT = "ecom_ai.visitor"


@functools.lru_cache(maxsize=10_000)
def _verified_key(name: str, raw: str, *signing_settings) -> str:
    """The key in one signed cookie value ("" when tampered with), checked as Django's
    ``get_signed_cookie`` does. Cached: a returning visitor's cookie is checked once per
    process, not on every request (an HMAC each time); the signing settings are part of the
    cache key, so rotating the secret key checks again."""
    probe = HttpRequest()
    probe.COOKIES[name] = raw
    try:
        value = probe.get_signed_cookie(name, default="", salt=SALT)
    except signing.BadSignature:
        return ""
    return value if isinstance(value, str) and 0 < len(value) <= 64 else ""


def read_visitor_cookie(request) -> str:
    """The visitor key from the signed cookie, or "" when absent or tampered with."""
    name = ecom_settings.VISITOR_COOKIE_NAME
    raw = request.COOKIES.get(name)
    if not raw or len(raw) > 512:  # a visitor cookie is ~100 characters: a longer one is not ours
        return ""
    return _verified_key(name, raw, django_settings.SECRET_KEY,
                         tuple(getattr(django_settings, "SECRET_KEY_FALLBACKS", ())),
                         getattr(django_settings, "SIGNING_BACKEND", ""),
                         getattr(django_settings, "SIGNED_COOKIE_LEGACY_SALT_FALLBACK", None))


def get_visitor_key(request) -> str:
    """The request's visitor key: set by VisitorMiddleware, else read from the cookie, else ""."""
    key = getattr(request, "ecom_ai_visitor", None)
    if key:
        return key
    cookies = getattr(request, "COOKIES", None)
    return read_visitor_cookie(request) if cookies else ""


class VisitorMiddleware:
    """Sets ``request.ecom_ai_visitor`` and the signed visitor cookie."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = read_visitor_cookie(request)
        is_new = not key
        if is_new:
            key = uuid.uuid4().hex
        request.ecom_ai_visitor = key
        response = self.get_response(request)
        if is_new:
            response.set_signed_cookie(
                ecom_settings.VISITOR_COOKIE_NAME, key, salt=SALT,
                max_age=ecom_settings.VISITOR_COOKIE_AGE, secure=ecom_settings.VISITOR_COOKIE_SECURE,
                httponly=True, samesite="Lax",
            )
        return response
