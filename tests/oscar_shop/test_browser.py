"""In a real browser: Oscar's home and product pages with ecom_ai's recommendation strips (Oscar's
own product cards) and the chat bubble, from the template overrides of ecom_ai.contrib.oscar."""

from __future__ import annotations

import os

import pytest

import ecom_ai
from ecom_ai.adapters import get_adapter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_cdn(page):
    """Oscar's layout loads jQuery from a CDN first (then its own copy): no network here."""
    page.route("https://**/*", lambda route: route.abort())


def test_home_and_product_pages_show_strips_of_oscar_cards_and_the_chat(page, live_server, oscar_catalog):
    shop = oscar_catalog
    for visitor in range(4):  # shoppers who looked at the book, the novel and the T-shirt together
        for name in ("book", "novel", "tee", "sold_out"):
            ecom_ai.track("view", visitor_key=f"v{visitor}", item_key=get_adapter().item_key(shop[name]))
    no_cdn(page)

    page.goto(live_server.url + "/catalogue/")
    home = page.locator("section.ecom-ai-recommendations[data-ecom-ai-placement=home]")
    home.wait_for()
    cards = home.locator("article.product_pod")  # Oscar's own card ({% render_product %}): image, title, price, basket
    titles = set(cards.locator("h3 a").all_inner_texts())
    assert titles == {"Django for Shops", "A Quiet Novel", "Oscar Tee"}  # no variant, hidden or unavailable item
    assert home.locator("[data-ecom-ai-click]").count() == 3 and home.get_attribute("data-ecom-ai-rec")
    bubble = page.locator(".ecom-ai-chat__bubble")
    assert bubble.is_visible() and bubble.locator("svg").count() == 1  # an inline SVG icon, no emoji font needed
    bubble.click()
    assert page.locator(".ecom-ai-chat__panel").is_visible()
    if os.environ.get("ECOM_AI_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["ECOM_AI_SCREENSHOTS"], "oscar_home.png"), full_page=True)

    page.goto(live_server.url + shop["book"].get_absolute_url())
    strip = page.locator("section.ecom-ai-recommendations[data-ecom-ai-placement=product]")
    strip.wait_for()
    related = set(strip.locator("article.product_pod h3 a").all_inner_texts())
    assert related and related <= {"A Quiet Novel", "Oscar Tee"}  # viewed together with the book; never itself
    assert page.locator(".ecom-ai-chat__bubble").is_visible()
    if os.environ.get("ECOM_AI_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["ECOM_AI_SCREENSHOTS"], "oscar_product.png"), full_page=True)
