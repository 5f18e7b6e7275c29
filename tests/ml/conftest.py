import pytest
from django.conf import settings
from django.test import override_settings

from ecom_ai.ml.registry import clear_loaded_models
from tests.ml.toy import trainers


@pytest.fixture
def ecom_ai_settings(request):
    """Apply ECOM_AI overrides on top of the project's ECOM_AI for the rest of the test."""
    # pytest-django's ``settings`` is set up before and torn down after this fixture, so
    # nested overrides always unwind in order (otherwise its changes could leak).
    request.getfixturevalue("settings")
    stack = []

    def apply(**overrides):
        merged = {**getattr(settings, "ECOM_AI", {}), **overrides}
        override = override_settings(ECOM_AI=merged)
        override.enable()
        stack.append(override)
        return merged

    yield apply
    for override in reversed(stack):
        override.disable()


@pytest.fixture
def toy_settings(ecom_ai_settings, tmp_path):
    """A toy trainer registered as kind "toy", artifacts in a temporary folder."""
    with override_settings(MEDIA_ROOT=str(tmp_path)):
        ecom_ai_settings(TRAINERS=trainers(toy="ToyTrainer"), ACTIVE_MODEL_CHECK_SECONDS=0)
        clear_loaded_models()
        yield
    clear_loaded_models()
