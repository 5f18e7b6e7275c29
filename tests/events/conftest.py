import pytest
from django.core.cache import cache
from django.test import Client

from ecom_ai.events.middleware import SALT
from ecom_ai.models import ChannelKey


@pytest.fixture(autouse=True)
def clear_throttle_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def events_url():
    from django.urls import reverse

    return reverse("ecom_ai:events")


def browser(visitor="visitor-a", **kwargs) -> Client:
    """A browser with a signed visitor cookie."""
    client = Client(**kwargs)
    if visitor:
        from django.conf import settings
        from django.core.signing import get_cookie_signer

        from ecom_ai.conf import settings as ecom_settings

        signer = get_cookie_signer(salt=ecom_settings.VISITOR_COOKIE_NAME + SALT)
        client.cookies[ecom_settings.VISITOR_COOKIE_NAME] = signer.sign(visitor)
        assert settings.SECRET_KEY
    return client


@pytest.fixture
def make_browser():
    return browser


@pytest.fixture
def app_key(db):
    key, raw = ChannelKey.create_with_key(name="ios-app", channel="app")
    return key, raw


@pytest.fixture
def users(django_user_model):
    alice = django_user_model.objects.create_user("alice", password="pw")
    bob = django_user_model.objects.create_user("bob", password="pw")
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    return alice, bob, staff
