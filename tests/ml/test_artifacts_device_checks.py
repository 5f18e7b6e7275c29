from collections import OrderedDict

import pytest
import torch
from django.core.checks import run_checks
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import override_settings

from ecom_ai.ml.artifacts import ArtifactError, artifact_name, load_artifact, save_artifact
from ecom_ai.ml.device import DeviceUnavailable, get_device, seed_everything
from ecom_ai.ml.registry import load_active, train_model
from tests.ml.toy import ToyModel, trainers


@pytest.fixture
def artifact_storage(tmp_path, ecom_ai_settings, settings):
    """A second storage alias, "models", distinct from the default storage."""
    settings.STORAGES = {
        **settings.STORAGES,
        "models": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "models")},
        },
    }
    ecom_ai_settings(ARTIFACT_STORAGE="models", ARTIFACT_PATH="ml/artifacts")
    return tmp_path / "models"


def test_roundtrip_of_allowed_payload_types(artifact_storage):
    payload = {
        "state": OrderedDict(weight=torch.randn(3, 2), bias=torch.zeros(2)),
        "vocab": ["a", "b"],
        "pair": (1, 2.5),
        "flag": True,
        "none": None,
        "raw": b"\x00\x01",
        "name": "x",
    }
    name = save_artifact("fraud", 3, payload)
    assert name == "ml/artifacts/fraud/fraud-v3.pt"
    assert (artifact_storage / name).exists()  # went to the "models" alias, not the default storage
    assert not storages["default"].exists(name)
    loaded = load_artifact(name)
    assert torch.equal(loaded["state"]["weight"], payload["state"]["weight"])
    assert loaded["vocab"] == ["a", "b"] and loaded["pair"] == (1, 2.5) and loaded["raw"] == b"\x00\x01"


def test_saving_twice_never_overwrites(artifact_storage):
    first = save_artifact("fraud", 1, {"a": 1})
    second = save_artifact("fraud", 1, {"a": 2})
    assert first != second and load_artifact(first) == {"a": 1} and load_artifact(second) == {"a": 2}


def test_disallowed_payloads_are_refused_when_saving(artifact_storage):
    import numpy as np

    with pytest.raises(ArtifactError, match="not allowed"):
        save_artifact("fraud", 1, {"weights": np.zeros(3)})
    with pytest.raises(ArtifactError, match="cannot be serialised"):
        save_artifact("fraud", 1, {"fn": lambda x: x})
    assert not (artifact_storage / "ml/artifacts/fraud").exists() or not any(
        (artifact_storage / "ml/artifacts/fraud").iterdir()
    )


def test_code_in_an_artifact_is_never_run(artifact_storage):
    import io
    import pickle

    class Evil:
        def __reduce__(self):
            return (eval, ("__import__('os').system('touch /tmp/ecom_ai_pwned')",))

    buffer = io.BytesIO()
    torch.save({"x": Evil()}, buffer, pickle_module=pickle)
    name = storages["models"].save("ml/artifacts/fraud/evil.pt", ContentFile(buffer.getvalue()))
    with pytest.raises(ArtifactError, match="is corrupt or holds types that are not allowed"):
        load_artifact(name)


def test_missing_corrupt_and_empty_artifacts(artifact_storage):
    with pytest.raises(ArtifactError, match=r"Artifact 'ml/artifacts/x/x-v1.pt' is missing from storage 'models'"):
        load_artifact("ml/artifacts/x/x-v1.pt")
    name = storages["models"].save("ml/artifacts/x/bad.pt", ContentFile(b"garbage" * 10))
    with pytest.raises(ArtifactError, match="is corrupt"):
        load_artifact(name)
    name = storages["models"].save("ml/artifacts/x/empty.pt", ContentFile(b""))
    with pytest.raises(ArtifactError, match="is empty"):
        load_artifact(name)
    with pytest.raises(ArtifactError, match="has no artifact"):
        load_artifact("")


def test_bad_kind_and_unknown_storage_alias(ecom_ai_settings):
    with pytest.raises(ArtifactError, match="not usable in an artifact name"):
        artifact_name("../etc", 1)
    ecom_ai_settings(ARTIFACT_STORAGE="nowhere")
    with pytest.raises(ArtifactError, match="'nowhere' is not a storage alias"):
        save_artifact("fraud", 1, {"a": 1})


@pytest.mark.django_db
def test_registry_uses_the_artifact_storage_alias(artifact_storage, ecom_ai_settings):
    ecom_ai_settings(TRAINERS=trainers(toy="ToyTrainer"), ACTIVE_MODEL_CHECK_SECONDS=0)
    version = train_model("toy")
    assert (artifact_storage / version.artifact).exists()
    assert isinstance(load_active("toy"), ToyModel)


def test_device_choice_on_this_machine():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device("auto").type in (expected, "mps")
    assert get_device("cpu") == torch.device("cpu")
    with override_settings(ECOM_AI={"DEVICE": "cpu"}):
        assert get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_explicit_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(DeviceUnavailable, match="torch sees no CUDA GPU.*'auto'"):
        get_device("cuda")
    with pytest.raises(DeviceUnavailable):
        get_device("cuda:1")
    with pytest.raises(DeviceUnavailable, match="Unknown device"):
        get_device("tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_is_chosen_when_present():
    assert get_device("auto").type == "cuda"
    assert get_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(DeviceUnavailable, match="only"):
        get_device(f"cuda:{torch.cuda.device_count()}")


def test_seed_everything_repeats_random_streams():
    import random

    import numpy as np

    seed_everything(42)
    first = (random.random(), np.random.rand(), torch.rand(2))
    seed_everything(42)
    second = (random.random(), np.random.rand(), torch.rand(2))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])
    with override_settings(ECOM_AI={"SEED": 7}):
        seed_everything()
        a = torch.rand(1)
        seed_everything(7)
        assert torch.equal(a, torch.rand(1))


def _ids(ecom_ai):
    with override_settings(ECOM_AI=ecom_ai):
        return [(m.id, m.msg) for m in run_checks() if m.id == "ecom_ai.E020"]


def test_system_check_reports_bad_trainers(settings):
    base = dict(settings.ECOM_AI)
    assert _ids({**base, "TRAINERS": trainers(toy="ToyTrainer")}) == []
    problems = _ids(
        {
            **base,
            "TRAINERS": {"a": "tests.ml.toy.Missing", "b": "tests.ml.toy.ToyModel", "c d": "tests.ml.toy.ToyTrainer"},
        }
    )
    text = " ".join(msg for _, msg in problems)
    assert len(problems) == 3
    assert "['a'] = 'tests.ml.toy.Missing' cannot be imported" in text
    assert "is not a subclass of ecom_ai.ml.registry.Trainer" in text
    assert "the kind 'c d' may only use" in text


def test_settings_validation_of_ml_keys(settings):
    from ecom_ai.conf import validate

    assert validate({"TRAINERS": {"fraud": 3}}) == [
        "ECOM_AI['TRAINERS'] must map kind names to dotted paths of Trainer subclasses, got {'fraud': 3}."
    ]
    assert validate({"ACTIVE_MODEL_CHECK_SECONDS": -1})
    assert validate({"TRAINERS": {}, "ACTIVE_MODEL_CHECK_SECONDS": 0.5}) == []
