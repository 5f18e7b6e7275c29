"""The training-run admin page refreshes its progress bar and curves live, in a real browser."""
import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.urls import reverse

from ecom_ai.models import TrainingRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture
def page(live_server, monkeypatch):
    playwright_api = pytest.importorskip("playwright.sync_api")
    admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    client = Client()
    client.force_login(admin)
    # Playwright's sync API runs an event loop in this thread; the ORM calls here stay synchronous
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": live_server.url}])
        page = context.new_page()
        yield page
        browser.close()
        connections.close_all()  # ORM calls under Playwright's greenlet opened a connection of their own


def test_progress_bar_and_chart_refresh_while_running(page, live_server):
    run = TrainingRun.objects.create(kind="toy", status="running", percent=40, epoch=2, total_epochs=5, loss=0.5,
                                     history=[{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.5}])
    page.goto(live_server.url + reverse("admin:ecom_ai_trainingrun_change", args=[run.pk]))
    bar_text = page.locator(".field-progress .ecom-ai-progress-text")
    assert bar_text.inner_text().startswith("40% · epoch 2/5 · loss 0.5")
    assert page.locator('[data-chart="loss"] circle').count() == 2

    TrainingRun.objects.filter(pk=run.pk).update(
        percent=80, epoch=4, loss=0.125, message="epoch 4 done",
        history=[{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.5}, {"epoch": 3, "loss": 0.25},
                 {"epoch": 4, "loss": 0.125, "auc": 0.8}])
    page.wait_for_function(
        "() => document.querySelector('.field-progress .ecom-ai-progress-text').textContent.startsWith('80% · epoch 4/5')",
        timeout=15000)
    assert page.locator('[data-chart="loss"] circle').count() == 4
    assert page.locator('[data-chart="metrics"] circle').count() == 1
    width = page.locator(".field-progress .ecom-ai-progress-bar").evaluate("el => el.style.width")
    assert width == "80%"

    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", percent=100, epoch=5)
    page.wait_for_function(
        "() => document.querySelector('.field-progress .ecom-ai-progress').dataset.status === 'succeeded'",
        timeout=15000)
    assert page.locator(".field-progress .ecom-ai-progress-text").inner_text().startswith("100% · epoch 5/5")
