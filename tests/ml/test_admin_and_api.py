import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from ecom_ai.ml.registry import active_version, train_model
from ecom_ai.models import ModelVersion, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(toy_settings):
    v1 = train_model("toy", {"score": 0.8, "epochs": 3})
    v2 = train_model("toy", {"score": 0.9, "epochs": 3})
    v3 = train_model("toy", {"score": 0.4, "epochs": 3})
    return v1, v2, v3


def changelist(model):
    return reverse(f"admin:ecom_ai_{model}_changelist")


def test_version_changelist_shows_status_and_primary_metric(admin_client, versions, django_assert_max_num_queries):
    response = admin_client.get(changelist("modelversion"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "accuracy 0.9" in html and "accuracy 0.4" in html
    assert ">active<" in html and ">ready<" in html and ">retired<" in html
    assert reverse("admin:ecom_ai_modelversion_train") in html  # "Train a new version" button
    for _ in range(2):
        train_model("toy", {"score": 0.1})
    with django_assert_max_num_queries(12):  # no query per row
        assert admin_client.get(changelist("modelversion")).status_code == 200


def test_version_change_view_shows_metrics_and_runs(admin_client, versions):
    v1, v2, v3 = versions
    response = admin_client.get(reverse("admin:ecom_ai_modelversion_change", args=[v3.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="ecom-ai-metrics"' in html
    assert "active (v2)" in html  # compared with the active version's metrics
    assert "Not activated" in html  # the gate's note
    assert (
        "ecom-ai-progress" in html
        and reverse("admin:ecom_ai_trainingrun_change", args=[v3.training_runs.get().pk]) in html
    )


def test_activate_and_roll_back_actions(admin_client, versions):
    v1, v2, v3 = versions
    url = changelist("modelversion")
    response = admin_client.post(url, {"action": "activate_selected", "_selected_action": [v3.pk]}, follow=True)
    assert "Toy v3 is now active." in response.content.decode()
    assert active_version("toy") == v3
    assert ModelVersion.objects.get(pk=v3.pk).activated_by.username == "admin"

    response = admin_client.post(url, {"action": "activate_selected", "_selected_action": [v1.pk, v2.pk]}, follow=True)
    assert "Select exactly one version" in response.content.decode()

    response = admin_client.post(url, {"action": "roll_back_selected", "_selected_action": [v3.pk]}, follow=True)
    assert "Toy rolled back to v2." in response.content.decode()
    assert active_version("toy") == v2


def test_activating_a_failed_version_is_refused(admin_client, toy_settings):
    failed = ModelVersion.objects.create(kind="toy", number=1, status="failed", error="x")
    response = admin_client.post(
        changelist("modelversion"), {"action": "activate_selected", "_selected_action": [failed.pk]}, follow=True
    )
    assert "only ready or retired versions can be activated" in response.content.decode()
    assert active_version("toy") is None


def test_train_action_queues_and_runs_inline(admin_client, versions, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            changelist("modelversion"),
            {"action": "train_new_version", "_selected_action": [versions[0].pk]},
            follow=True,
        )
    assert "Training of toy requested" in response.content.decode()
    assert "It runs in this process, inside this request" in response.content.decode()
    run = TrainingRun.objects.latest("id")
    assert run.status == "succeeded" and run.requested_by.username == "admin"
    assert run.version.number == 4


def test_train_page_validates_and_queues(admin_client, toy_settings, django_capture_on_commit_callbacks):
    url = reverse("admin:ecom_ai_modelversion_train")
    page = admin_client.get(url)
    assert page.status_code == 200 and '<option value="toy"' in page.content.decode()
    bad = admin_client.post(url, {"kind": "toy", "params": "[1]"})
    assert bad.status_code == 200 and "Give a JSON object" in bad.content.decode()
    bad = admin_client.post(url, {"kind": "nope", "params": "{}"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    assert not TrainingRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"kind": "toy", "params": '{"epochs": 2}'})
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:ecom_ai_trainingrun_change", args=[run.pk]
    )
    assert run.version.params == {"epochs": 2}


def test_train_page_refuses_while_locked(admin_client, toy_settings):
    TrainingRun.objects.create(kind="toy", status="running")
    response = admin_client.post(
        reverse("admin:ecom_ai_modelversion_train"), {"kind": "toy", "params": ""}, follow=True
    )
    assert "already queued or running" in response.content.decode()
    assert TrainingRun.objects.count() == 1


def test_staff_without_permission_cannot_train(client, toy_settings):
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client.force_login(user)
    assert client.get(changelist("modelversion")).status_code == 200
    assert client.get(reverse("admin:ecom_ai_modelversion_train")).status_code == 403


def test_training_run_pages_show_progress_and_charts(admin_client, versions):
    run = versions[0].training_runs.get()
    listing = admin_client.get(changelist("trainingrun")).content.decode()
    assert "100%" in listing and "epoch 3/3" in listing
    html = admin_client.get(reverse("admin:ecom_ai_trainingrun_change", args=[run.pk])).content.decode()
    assert html.count('class="ecom-ai-chart"') == 2 and "<polyline" in html and "Loss per epoch" in html
    assert "ecom_ai/ml/training_progress.js" in html
    assert 'data-run-url=""' in html  # finished: not polled


def test_running_run_is_polled(admin_client, toy_settings):
    run = TrainingRun.objects.create(
        kind="toy",
        status="running",
        percent=40,
        epoch=2,
        total_epochs=5,
        loss=0.25,
        history=[{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "auc": 0.7}],
    )
    html = admin_client.get(reverse("admin:ecom_ai_trainingrun_change", args=[run.pk])).content.decode()
    api = reverse("ecom_ai:training-run-detail", args=[run.pk])
    assert f'data-run-url="{api}" data-status="running"' in html
    assert "40% · epoch 2/5 · loss 0.25" in html


def test_api_returns_progress_for_staff_only(client, admin_client, toy_settings):
    run = TrainingRun.objects.create(
        kind="toy",
        status="running",
        percent=40,
        epoch=2,
        total_epochs=5,
        loss=0.25,
        history=[{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "auc": 0.7}],
    )
    url = reverse("ecom_ai:training-run-detail", args=[run.pk])
    data = admin_client.get(url).json()
    assert data["status"] == "running" and data["finished"] is False
    assert (data["percent"], data["epoch"], data["total_epochs"], data["loss"]) == (40, 2, 5, 0.25)
    assert data["charts"]["loss"].startswith("<svg") and "auc" in data["charts"]["metrics"]
    assert client.get(url).status_code in (401, 403)
    shopper = get_user_model().objects.create_user("shopper", password="pw")
    client.force_login(shopper)
    assert client.get(url).status_code == 403
    assert admin_client.get(reverse("ecom_ai:training-run-detail", args=[999999])).status_code == 404


def test_active_version_cannot_be_deleted(admin_client, versions):
    v1, v2, v3 = versions
    assert admin_client.get(reverse("admin:ecom_ai_modelversion_delete", args=[v2.pk])).status_code == 403
    assert (
        admin_client.post(reverse("admin:ecom_ai_modelversion_delete", args=[v3.pk]), {"post": "yes"}).status_code
        == 302
    )
    assert not ModelVersion.objects.filter(pk=v3.pk).exists()
    html = admin_client.get(changelist("modelversion")).content.decode()
    assert not re.search(r'value="delete_selected"', html)


def test_cancel_action(admin_client, toy_settings):
    running = TrainingRun.objects.create(kind="toy", status="running")
    done = TrainingRun.objects.create(kind="other", status="succeeded")
    response = admin_client.post(
        changelist("trainingrun"), {"action": "cancel_selected", "_selected_action": [running.pk, done.pk]}, follow=True
    )
    html = response.content.decode()
    assert f"Cancelled: #{running.pk}" in html and "already finished were left" in html
    running.refresh_from_db()
    done.refresh_from_db()
    assert running.status == "failed" and "Cancelled by admin" in running.message
    assert done.status == "succeeded"
