"""Visitor middleware: gives every browser a signed visitor key cookie."""
from __future__ import annotations

import uuid

from django.core import signing

from ecom_ai.conf import settings as ecom_settings

SALT = "ecom_ai.visitor"


def read_visitor_cookie(request) -> str:
    """The visitor key from the signed cookie, or "" when absent or tampered with."""
    try:
        value = request.get_signed_cookie(ecom_settings.VISITOR_COOKIE_NAME, default="", salt=SALT)
    except signing.BadSignature:
        return ""
    return value if isinstance(value, str) and 0 < len(value) <= 64 else ""


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
