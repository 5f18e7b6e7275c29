"""The visitor cookie: signed, checked once per process per cookie value, rotation-safe."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.events import middleware
from ecom_ai.events.middleware import VisitorMiddleware, read_visitor_cookie


def signed_cookie(key: str) -> str:
    response = HttpResponse()
    response.set_signed_cookie(ecom_settings.VISITOR_COOKIE_NAME, key, salt=middleware.SALT)
    return response.cookies[ecom_settings.VISITOR_COOKIE_NAME].value


def request_with(value=None):
    request = RequestFactory().get("/")
    if value is not None:
        request.COOKIES[ecom_settings.VISITOR_COOKIE_NAME] = value
    return request


@pytest.fixture(autouse=True)
def fresh_cache():
    middleware._verified_key.cache_clear()
    yield
    middleware._verified_key.cache_clear()


def test_a_signed_cookie_gives_its_key_and_is_checked_once_per_process():
    cookie = signed_cookie("a" * 32)
    assert read_visitor_cookie(request_with(cookie)) == "a" * 32
    assert read_visitor_cookie(request_with(cookie)) == "a" * 32
    info = middleware._verified_key.cache_info()
    assert (info.misses, info.hits) == (1, 1)


@pytest.mark.parametrize("value", ["", "plain-key", "a" * 32 + ":forged", "x" * 600, "ünï:code"])
def test_a_missing_forged_or_oversized_cookie_gives_no_key(value):
    assert read_visitor_cookie(request_with(value)) == ""
    assert read_visitor_cookie(request_with()) == ""


def test_a_tampered_cookie_gets_a_new_visitor_key_from_the_middleware():
    cookie = signed_cookie("b" * 32)
    request = request_with(cookie[:-1] + ("A" if cookie[-1] != "A" else "B"))
    response = VisitorMiddleware(lambda r: HttpResponse())(request)
    assert request.ecom_ai_visitor != "b" * 32 and len(request.ecom_ai_visitor) == 32
    assert ecom_settings.VISITOR_COOKIE_NAME in response.cookies  # a fresh signed cookie


def test_rotating_the_secret_key_checks_cached_cookies_again():
    with override_settings(SECRET_KEY="old-secret-" + "x" * 40):
        cookie = signed_cookie("c" * 32)
        assert read_visitor_cookie(request_with(cookie)) == "c" * 32
    with override_settings(SECRET_KEY="new-secret-" + "y" * 40):
        assert read_visitor_cookie(request_with(cookie)) == ""  # the cached answer is not reused
    with override_settings(SECRET_KEY="new-secret-" + "y" * 40, SECRET_KEY_FALLBACKS=["old-secret-" + "x" * 40]):
        assert read_visitor_cookie(request_with(cookie)) == "c" * 32
