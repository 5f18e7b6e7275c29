"""In a real browser: the sandbox's recommendation strips, a click attributed through the JS collector."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils.text import slugify

from ecom_ai.models import Event, RecommendationList
from shop.models import Category, Product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_click_on_a_recommendation_is_attributed_to_its_list(page, live_server):
    cat = Category.objects.create(name="Tea", slug="tea")
    for n in range(1, 7):
        Product.objects.create(category=cat, title=f"Tea {n}", slug=slugify(f"tea-{n}"), price=Decimal("5.00"), stock=5)
    page.goto(live_server.url + "/")
    strip = page.locator("section.recommendations[data-placement=home]")
    strip.wait_for()
    rec_id = strip.get_attribute("data-rec-id")
    assert (
        strip.locator("a.card-link").count() == 3
    )  # one category, and the home placement shows at most 3 per category
    first = strip.locator("a.card-link").first
    clicked_key = first.get_attribute("data-ecom-ai-click")
    first.click()
    page.wait_for_url("**/p/**")
    page.locator("section.recommendations[data-placement=product]").wait_for()
    page.evaluate("window.ecomAI.flush()")
    page.wait_for_function("window.ecomAI.pending() === 0", timeout=10000)
    click = Event.objects.get(event_type="click", item_key=clicked_key)
    assert click.context["rec_id"] == rec_id and click.context["placement"] == "home"
    assert RecommendationList.objects.get(pk=rec_id).clicks == 1


def test_experiment_report_chart_in_the_admin(page, live_server):
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from ecom_ai.models import Experiment, Placement, Variant

    admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    client = Client()
    client.force_login(admin)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    placement = Placement.objects.create(slug="home", name="Home")
    exp = Experiment.objects.create(placement=placement, name="AB", status="running")
    for name, clicks in (("A", 3), ("B", 6)):
        variant = Variant.objects.create(experiment=exp, name=name)
        for i in range(20):
            RecommendationList.objects.create(
                placement=placement,
                variant=variant,
                visitor_key=f"{name}{i}",
                items=[{"key": "1"}],
                clicks=1 if i < clicks else 0,
            )
    page.goto(live_server.url + reverse("admin:ecom_ai_experiment_changelist"))
    page.get_by_role("link", name="report").click()
    chart = page.locator("svg.ecom-ai-chart")
    chart.wait_for()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    assert page.locator("svg.ecom-ai-chart line.ci").count() == 4  # CTR and conversion error bars, 2 variants
    assert page.locator("tr.variant-row[data-variant=B] td").nth(4).locator(".value").inner_text() == "0.3000"
    assert all(url.startswith(live_server.url) for url in requested), requested
