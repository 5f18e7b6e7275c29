"""The JS collector (ecom_ai/static/ecom_ai/tracker.js) in a real browser, on the sandbox shop."""

import time
from decimal import Decimal

import pytest
from django.core.cache import cache

from ecom_ai.models import Event
from tests.sandbox.conftest import sandbox_catalog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVENTS_PATH = "/ecom-ai/api/v1/events/"


@pytest.fixture
def shop(db):
    from ecom_ai.recommend import service

    cache.clear()  # throttle counters
    service.clear_placement_cache()  # placements cached by earlier tests were rolled back
    return sandbox_catalog()


def wait_for_events(timeout=10, **filters):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(Event.objects.filter(**filters))
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(
        f"no event matching {filters} arrived; stored: "
        f"{list(Event.objects.values_list('event_type', 'item_key', 'source'))}"
    )


def test_page_view_and_product_view_arrive(page, live_server, shop):
    headphones = shop["headphones"]
    with page.expect_response(lambda r: EVENTS_PATH in r.url and r.request.method == "POST") as sent:
        page.goto(live_server.url + "/")
    assert sent.value.status == 201, sent.value.text()
    assert page.title().startswith("Home")
    home_view = wait_for_events(event_type="page_view", context__path="/")[0]
    assert (home_view.channel, home_view.source) == ("web", "browser")
    visitor = next(c["value"] for c in page.context.cookies() if c["name"] == "ecom_ai_vid").split(":")[0]
    assert home_view.visitor_key == visitor
    assert home_view.client_event_id and home_view.client_time is not None

    with page.expect_response(lambda r: EVENTS_PATH in r.url and r.request.method == "POST") as sent:
        page.goto(live_server.url + headphones.get_absolute_url())
    assert sent.value.status == 201
    view = wait_for_events(event_type="view")[0]
    assert view.item_key == str(headphones.pk)
    assert view.visitor_key == visitor
    assert view.context["path"] == headphones.get_absolute_url()
    wait_for_events(event_type="page_view", context__path=headphones.get_absolute_url())
    assert page.evaluate("window.ecomAI.pending()") == 0
    assert page.js_errors == []


def test_click_on_a_product_card_is_sent_when_leaving_the_page(page, live_server, shop):
    speaker = shop["speaker"]
    page.goto(live_server.url + "/")
    wait_for_events(event_type="page_view")
    # the click is queued and the page is left at once: it must still arrive
    page.click(f'a[data-ecom-ai-click="{speaker.pk}"]')
    page.wait_for_url("**" + speaker.get_absolute_url())
    click = wait_for_events(event_type="click")[0]
    assert click.item_key == str(speaker.pk)
    assert click.context == {"list": "home", "path": "/"}
    wait_for_events(event_type="view", item_key=str(speaker.pk))
    assert Event.objects.filter(event_type="click").count() == 1


def test_a_retried_batch_is_stored_once(page, live_server, shop):
    """The first delivery reaches the server but its response is lost (503 to the page):
    the collector keeps the batch, backs off, and its retry is recognised as a duplicate."""
    deliveries = []

    def lose_first_response(route):
        response = route.fetch()  # the server stores the batch...
        deliveries.append(response.status)
        if len(deliveries) == 1:
            route.fulfill(status=503, body="lost")  # ...but the page never hears about it
        else:
            route.fulfill(response=response)

    page.route("**" + EVENTS_PATH, lose_first_response)
    page.goto(live_server.url + shop["headphones"].get_absolute_url())
    page.wait_for_function("() => JSON.parse(localStorage.getItem('ecom_ai:retry') || '{}').attempts === 1")
    assert deliveries == [201]
    from_browser = Event.objects.filter(source="browser")  # (the server may record impressions itself)
    stored = from_browser.count()
    assert stored == 2  # page_view + view
    assert page.evaluate("window.ecomAI.pending()") == 2  # still queued for a retry

    with page.expect_response(lambda r: EVENTS_PATH in r.url) as retried:
        page.evaluate("window.ecomAI.flush()")
    assert retried.value.status == 200
    assert retried.value.json() == {"accepted": 0, "duplicates": 2}
    assert from_browser.count() == stored
    ids = list(from_browser.values_list("client_event_id", flat=True))
    assert len(set(ids)) == 2
    page.wait_for_function("() => window.ecomAI.pending() === 0")
    assert page.evaluate("JSON.parse(localStorage.getItem('ecom_ai:retry')).attempts") == 0


def test_the_public_track_call_and_a_refused_event(page, live_server, shop):
    page.goto(live_server.url + "/")
    wait_for_events(event_type="page_view")
    page.wait_for_function("() => window.ecomAI.pending() === 0")
    # one good event and one the server refuses (unknown type) in the same batch
    with page.expect_response(lambda r: EVENTS_PATH in r.url) as refused:
        page.evaluate(
            """window.ecomAI.track('add_to_cart', {item_key: '%s', quantity: 2, value: '91.80',
                         context: {source: 'quick-add'}});
                         window.ecomAI.track('teleport', {});
                         window.ecomAI.flush()"""
            % shop["speaker"].pk
        )
    assert refused.value.status == 400
    assert list(refused.value.json()["errors"]) == ["1"]
    # only the bad event is dropped; the good one is sent again and stored
    page.wait_for_function("() => window.ecomAI.pending() === 1")
    page.evaluate("window.ecomAI.flush()")
    event = wait_for_events(event_type="add_to_cart")[0]
    assert (event.quantity, event.value, event.context) == (2, Decimal("91.80"), {"source": "quick-add"})
    page.wait_for_function("() => window.ecomAI.pending() === 0")
    assert not Event.objects.filter(event_type="teleport").exists()
