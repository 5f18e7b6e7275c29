import pytest
from django.core.cache import cache
from django.test import Client


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()  # throttles count in the cache
    yield
    cache.clear()


@pytest.fixture
def anon():
    return Client(raise_request_exception=False)


@pytest.fixture
def staff(db, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client
