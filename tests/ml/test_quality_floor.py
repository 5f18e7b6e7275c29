"""The evaluation gate's quality floor: enough data and better than the baseline, for every version."""

import pytest

from ecom_ai.ml.quality import check_floor, data_warnings
from ecom_ai.ml.registry import active_version, activate, get_trainer, passes_gate, train_model
from ecom_ai.models import ModelVersion
from tests.ml.toy import trainers

pytestmark = pytest.mark.django_db


@pytest.fixture
def floored(ecom_ai_settings, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    ecom_ai_settings(TRAINERS=trainers(toy="FlooredTrainer"), ACTIVE_MODEL_CHECK_SECONDS=0)
    return ecom_ai_settings


def test_first_version_below_the_data_floor_stays_ready(floored):
    version = train_model("toy", {"rows": 12, "baseline": 0.5})
    assert version.status == "ready" and active_version("toy") is None
    assert "below its quality floor" in version.notes and "trained on 12 training rows" in version.notes
    assert "nothing is active, so the fallback keeps serving" in version.notes
    assert version.quality["passed"] is False
    assert [c["code"] for c in version.quality["checks"] if not c["passed"]] == ["min:rows"]
    assert "trained on 12 training rows, at least 100 are needed" in data_warnings(version)
    assert passes_gate(version, None) is False


def test_a_version_must_beat_its_baseline_also_when_first(floored):
    version = train_model("toy", {"rows": 500, "score": 0.6, "baseline": 0.7})
    assert version.status == "ready"
    assert "accuracy 0.6 does not beat the coin flip's 0.7" in version.notes
    better = train_model("toy", {"rows": 500, "score": 0.8, "baseline": 0.7})
    assert better.status == "active" and better.quality["passed"] is True
    # below the floor never replaces an active version either, even with a better metric
    worse_data = train_model("toy", {"rows": 10, "score": 0.99, "baseline": 0.7})
    assert worse_data.status == "ready" and "the active v2 keeps serving" in worse_data.notes
    assert active_version("toy").pk == better.pk


def test_an_unmeasured_baseline_is_not_a_failure_and_the_margin_counts(floored):
    version = train_model("toy", {"rows": 500, "score": 0.8})
    assert version.status == "active"
    assert any("could not be measured" in c["message"] for c in version.quality["checks"])
    floored(QUALITY_FLOOR_MARGIN=0.2)
    verdict = check_floor(get_trainer("toy"), {"rows": 500, "accuracy": 0.8, "baseline_accuracy": 0.7})
    assert not verdict.passed and "by more than 0.2" in verdict.summary()


def test_settings_change_the_numbers_or_turn_the_floor_off(floored):
    floored(QUALITY_FLOORS={"toy": {"rows": 10}})
    assert train_model("toy", {"rows": 12, "baseline": 0.5}).status == "active"
    floored(QUALITY_FLOORS={"toy": None})
    assert check_floor(get_trainer("toy"), {"rows": 0, "accuracy": 0.1, "baseline_accuracy": 0.9}).passed


def test_data_warnings_from_validation(floored):
    version = train_model("toy", {"rows": 500, "baseline": 0.5, "positives": 3, "interval": [0.4, 0.9]})
    warnings = data_warnings(version)
    assert "validation has 3 positives" in warnings
    assert any("uncertain" in w and "0.40–0.90" in w for w in warnings)
    assert version.validation["method"] == "holdout"


def test_manual_activation_below_the_floor_warns_in_the_admin(floored, admin_client):
    version = train_model("toy", {"rows": 12, "baseline": 0.5})
    page = admin_client.get("/admin/ecom_ai/modelversion/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "trained on 12 training rows, at least 100 are needed" in text  # the warnings column
    assert "Metric history across versions" in text and "<svg" in text
    change = admin_client.get(f"/admin/ecom_ai/modelversion/{version.pk}/change/").content.decode()
    assert "Quality floor" in change and "below its quality floor" in change and "Validated on" in change
    response = admin_client.post(
        "/admin/ecom_ai/modelversion/", {"action": "activate_selected", "_selected_action": [version.pk]}, follow=True
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("below its quality floor" in m for m in messages)
    version.refresh_from_db()
    assert version.status == "active"  # the admin decides; the warning stays on the page
    assert ModelVersion.objects.get(pk=version.pk).quality["passed"] is False
    activate(version)  # idempotent
