"""The events overview and the channel-key flow in a real browser (headless Chromium)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ecom_ai.models import ChannelKey, Event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(staff_page):
    """The superuser's page, recording the URLs it requests in ``page.requested_urls``."""
    requests = []
    staff_page.on("request", lambda request: requests.append(request.url))
    staff_page.requested_urls = requests
    return staff_page


def test_overview_chart_is_drawn_without_external_resources(page, live_server):
    now = timezone.now()
    Event.objects.bulk_create(
        [
            Event(event_type="view", channel="web", visitor_key=f"v{i}", occurred_at=now - timedelta(days=i % 5))
            for i in range(20)
        ]
        + [Event(event_type="purchase", channel="app", visitor_key="a", occurred_at=now - timedelta(days=1))]
    )
    page.goto(live_server.url + reverse("admin:app_list", args=["ecom_ai"]))
    page.get_by_role("link", name="Events overview").click()
    page.wait_for_selector("svg.ecom-ai-chart")
    box = page.locator("svg.ecom-ai-chart").bounding_box()
    assert box["width"] > 300 and box["height"] > 80
    segments = page.locator("svg.ecom-ai-chart rect title")
    assert segments.count() == 6  # five days of web views + one day of app purchases
    assert page.locator("#card-window b").inner_text() == "21"
    assert page.locator("#totals-by-channel").inner_text().split()[-4:] == ["web", "20", "app", "1"]
    assert all(url.startswith(live_server.url) for url in page.requested_urls), page.requested_urls
    page.get_by_role("link", name="last 90 days").click()
    page.wait_for_url(re.compile(r"days=90"))
    assert page.locator("svg.ecom-ai-chart rect title").count() == 6


def test_new_channel_key_is_shown_once(page, live_server):
    page.goto(live_server.url + reverse("admin:ecom_ai_channelkey_add"))
    page.fill("#id_name", "pos-paris")
    page.select_option("#id_channel", "store")
    page.click("input[name=_save]")
    raw = page.locator(".ecom-ai-raw-key").inner_text()
    assert raw.startswith("eai_")
    assert ChannelKey.find(raw).name == "pos-paris"
    page.reload()
    assert page.locator(".ecom-ai-raw-key").count() == 0
    assert raw not in page.content()
