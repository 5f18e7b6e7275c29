import pytest

from ecom_ai.ml.registry import clear_loaded_models
from tests.ml.toy import trainers


@pytest.fixture
def ecom_ai_settings(settings):
    """Apply ECOM_AI overrides on top of the project's ECOM_AI for the rest of the test.

    Changes go through pytest-django's ``settings`` fixture, which undoes all of them, in
    order, when the test ends (stacked ``override_settings`` objects torn down by different
    fixtures can unwind out of order and leak settings into later tests).
    """

    def apply(**overrides):
        merged = {**getattr(settings, "ECOM_AI", {}), **overrides}
        settings.ECOM_AI = merged
        return merged

    return apply


@pytest.fixture
def toy_settings(ecom_ai_settings, settings, tmp_path):
    """A toy trainer registered as kind "toy", artifacts in a temporary folder."""
    settings.MEDIA_ROOT = str(tmp_path)
    ecom_ai_settings(TRAINERS=trainers(toy="ToyTrainer"), ACTIVE_MODEL_CHECK_SECONDS=0)
    clear_loaded_models()
    yield
    clear_loaded_models()
