"""Unusable active models are shown, checked and reported (issue 12, item 9): corrupt,
truncated and missing artifacts of a real (toy) trained version."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ecom_ai.ml import health
from ecom_ai.ml.registry import clear_loaded_models, load_active, train_model
from tests.ml.toy import trainers

pytestmark = pytest.mark.django_db


@pytest.fixture
def toy(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.ECOM_AI = {**settings.ECOM_AI, "TRAINERS": trainers(toy="ToyTrainer"), "ACTIVE_MODEL_CHECK_SECONDS": 0}
    clear_loaded_models()
    health.clear()
    version = train_model("toy")
    assert version.status == "active"
    yield version, Path(tmp_path) / version.artifact
    clear_loaded_models()
    health.clear()


def damage(path: Path, how: str) -> None:
    if how == "corrupt":
        path.write_bytes(b"this is not a torch file" * 10)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()


def test_a_loadable_active_model_is_healthy(toy, capsys):
    version, _path = toy
    assert health.check_version(version).ok
    call_command("ecom_ai_models", "--check")
    assert f"toy v{version.number}: loadable" in capsys.readouterr().out
    from ecom_ai.ml.checks import check_active_artifacts

    assert check_active_artifacts(databases=["default"]) == []


@pytest.mark.parametrize("how", ["corrupt", "truncated", "empty", "missing"])
def test_a_damaged_artifact_is_reported_everywhere(toy, how, capsys, admin_client):
    version, path = toy
    damage(path, how)
    clear_loaded_models()
    assert load_active("toy") is None  # serving falls back, and notes since when
    result = health.check_version(version, fresh=True)
    assert not result.ok and result.since is not None and "fallback in use since" in result.label

    with pytest.raises(CommandError) as raised:
        call_command("ecom_ai_models", "--check")
    assert raised.value.returncode == 1
    assert "unusable" in capsys.readouterr().out

    from ecom_ai.ml.checks import check_active_artifacts

    assert check_active_artifacts() == []  # a database check: only with --database
    warnings = check_active_artifacts(databases=["default"])
    assert [w.id for w in warnings] == ["ecom_ai.W021"] and "toy" in warnings[0].msg

    page = admin_client.get("/admin/ecom_ai/modelversion/").content.decode()
    assert "unusable: fallback in use" in page and f"{result.since:%Y-%m-%d %H:%M}" in page
    page = admin_client.get(f"/admin/ecom_ai/modelversion/{version.pk}/change/").content.decode()
    assert "unusable: fallback in use" in page


def test_the_model_is_healthy_again_once_repaired(toy):
    version, path = toy
    good = path.read_bytes()
    damage(path, "corrupt")
    clear_loaded_models()
    assert load_active("toy") is None
    path.write_bytes(good)
    clear_loaded_models()
    assert load_active("toy") is not None
    assert health.check_version(version, fresh=True).ok
