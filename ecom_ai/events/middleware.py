"""Visitor middleware: gives every browser a signed visitor key cookie, and keeps the
current request in a ``ContextVar`` (``current_request()``) for code that is not handed one.

Signals sent deep inside a host's code (django-oscar's ``order_placed`` has no request) and
``assess_order`` use ``current_request()`` when no request is passed, so fraud scoring gets
the client's IP, visitor key and behaviour anyway. A ``ContextVar`` follows the request
across threads and coroutines: it works under WSGI and ASGI (the middleware is sync- and
async-capable), and it is reset when the response is returned.
"""

from __future__ import annotations

import functools
import uuid
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from django.conf import settings as django_settings
from django.core import signing
from django.http import HttpRequest

from ecom_ai.conf import settings as ecom_settings

SALT = "ecom_ai.visitor"

_current_request: ContextVar = ContextVar("ecom_ai_current_request", default=None)


def current_request():
    """The request being handled in this thread or task (set by ``VisitorMiddleware``), or None."""
    return _current_request.get()


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
    return _verified_key(
        name,
        raw,
        django_settings.SECRET_KEY,
        tuple(getattr(django_settings, "SECRET_KEY_FALLBACKS", ())),
        getattr(django_settings, "SIGNING_BACKEND", ""),
        getattr(django_settings, "SIGNED_COOKIE_LEGACY_SALT_FALLBACK", None),
    )


def get_visitor_key(request) -> str:
    """The request's visitor key: set by VisitorMiddleware, else read from the cookie, else ""."""
    key = getattr(request, "ecom_ai_visitor", None)
    if key:
        return key
    cookies = getattr(request, "COOKIES", None)
    return read_visitor_cookie(request) if cookies else ""


class VisitorMiddleware:
    """Sets ``request.ecom_ai_visitor``, the signed visitor cookie and ``current_request()``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        key, is_new = self._start(request)
        token = _current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _current_request.reset(token)
        return self._finish(response, key, is_new)

    async def __acall__(self, request):
        key, is_new = self._start(request)
        token = _current_request.set(request)
        try:
            response = await self.get_response(request)
        finally:
            _current_request.reset(token)
        return self._finish(response, key, is_new)

    @staticmethod
    def _start(request) -> tuple[str, bool]:
        key = read_visitor_cookie(request)
        is_new = not key
        if is_new:
            key = uuid.uuid4().hex
        request.ecom_ai_visitor = key
        return key, is_new

    @staticmethod
    def _finish(response, key: str, is_new: bool):
        if is_new:
            response.set_signed_cookie(
                ecom_settings.VISITOR_COOKIE_NAME,
                key,
                salt=SALT,
                max_age=ecom_settings.VISITOR_COOKIE_AGE,
                secure=ecom_settings.VISITOR_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
