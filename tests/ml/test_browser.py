"""The training-run admin page refreshes its progress bar and curves live, in a real browser."""

import pytest
from django.urls import reverse

from ecom_ai.models import TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_progress_bar_and_chart_refresh_while_running(staff_page, live_server):
    page = staff_page
    run = TrainingRun.objects.create(
        kind="toy",
        status="running",
        percent=40,
        epoch=2,
        total_epochs=5,
        loss=0.5,
        history=[{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.5}],
    )
    page.goto(live_server.url + reverse("admin:ecom_ai_trainingrun_change", args=[run.pk]))
    bar_text = page.locator(".field-progress .ecom-ai-progress-text")
    assert bar_text.inner_text().startswith("40% · epoch 2/5 · loss 0.5")
    assert page.locator('[data-chart="loss"] circle').count() == 2

    TrainingRun.objects.filter(pk=run.pk).update(
        percent=80,
        epoch=4,
        loss=0.125,
        message="epoch 4 done",
        history=[
            {"epoch": 1, "loss": 0.9},
            {"epoch": 2, "loss": 0.5},
            {"epoch": 3, "loss": 0.25},
            {"epoch": 4, "loss": 0.125, "auc": 0.8},
        ],
    )
    page.wait_for_function(
        "() => document.querySelector('.field-progress .ecom-ai-progress-text').textContent.startsWith('80% · epoch 4/5')",
        timeout=15000,
    )
    assert page.locator('[data-chart="loss"] circle').count() == 4
    assert page.locator('[data-chart="metrics"] circle').count() == 1
    width = page.locator(".field-progress .ecom-ai-progress-bar").evaluate("el => el.style.width")
    assert width == "80%"

    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", percent=100, epoch=5)
    page.wait_for_function(
        "() => document.querySelector('.field-progress .ecom-ai-progress').dataset.status === 'succeeded'",
        timeout=15000,
    )
    assert page.locator(".field-progress .ecom-ai-progress-text").inner_text().startswith("100% · epoch 5/5")
