"""The personal offer banner in a real browser: shown on the home page, offer_shown and offer_clicked
reach the event log through the JS collector and stamp the decision."""

import time
from decimal import Decimal

import pytest
from django.core.cache import cache

from ecom_ai.models.marketing import Campaign, Offer, OfferDecision
from tests.events.test_tracker_browser import wait_for_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def campaign(db):
    from ecom_ai.marketing.service import clear_campaign_cache

    cache.clear()
    clear_campaign_cache()
    c = Campaign.objects.create(
        name="Welcome back", slug="welcome-back", control_percent=0, exploration_rate=0, frequency_cap=None
    )
    c.fixed_offer = Offer.objects.create(campaign=c, key="ten", title="10 % off your next order", value=Decimal("10"))
    c.save()
    return c


def test_banner_is_shown_and_its_events_stamp_the_decision(page, live_server, campaign):
    page.goto(live_server.url + "/")
    banner = page.locator(".ecom-ai-offer")
    assert "10 % off your next order" in banner.inner_text()
    decision = OfferDecision.objects.get()
    shown = wait_for_events(event_type="offer_shown")[0]
    assert shown.context["decision"] == decision.pk and shown.visitor_key == decision.visitor_key
    banner.click()
    page.evaluate("window.ecomAI.flush()")
    wait_for_events(event_type="offer_clicked")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        decision.refresh_from_db()
        if decision.shown_at and decision.clicked_at:
            break
        time.sleep(0.1)
    assert decision.shown_at and decision.clicked_at
    page.reload()
    assert OfferDecision.objects.count() == 1  # sticky: the reload shows the same decision
    assert not page.js_errors
