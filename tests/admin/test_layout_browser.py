"""Every ecom_ai admin page fits a 1366 x 900 laptop screen, and the sandbox shop a 390 x 844 phone.

A real browser (headless Chromium) visits each ecom_ai changelist, a change page of each model
with data, and the custom pages (overview, reports, preview, train), on a small seeded shop with
long texts where they occur in real shops; it asserts that neither the page nor a list/inline
table scrolls sideways, and saves a screenshot of each page (``ECOM_AI_SCREENSHOTS`` names the
folder; a temporary one otherwise).
"""

import os
import re
import tempfile
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TINY = ["--products", "60", "--customers", "12", "--days", "20", "--until", "2026-06-30"]

OVERFLOW_JS = """() => {
  const doc = document.documentElement;
  const boxes = [...document.querySelectorAll('#result_list, .inline-group table, .results, #content-main table')]
    .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
    .map(e => (e.id || e.className || e.tagName) + ' ' + e.scrollWidth + '>' + e.clientWidth);
  return {page: doc.scrollWidth, inner: innerWidth, boxes: boxes};
}"""


@pytest.fixture
def screenshots():
    folder = os.environ.get("ECOM_AI_SCREENSHOTS") or tempfile.mkdtemp(prefix="ecom_ai_layout_")
    os.makedirs(folder, exist_ok=True)
    return folder


@pytest.fixture
def shop_data(settings, tmp_path):
    """A tiny seeded sandbox, plus what the seed leaves empty: a long conversation, an experiment,
    rules, list entries, channel keys, model versions and training runs (one running)."""
    from ecom_ai.models import (
        ChannelKey,
        Conversation,
        Experiment,
        FraudListEntry,
        FraudRule,
        Message,
        ModelVersion,
        Placement,
        PlacementRule,
        RecommendationList,
        TrainingRun,
        Variant,
    )
    from ecom_ai.recommend import service

    settings.MEDIA_ROOT = str(tmp_path)
    service.clear_placement_cache()
    call_command("sandbox_seed", *TINY, stdout=StringIO())
    service.ensure_default_placements()
    home = Placement.objects.get(slug="home")
    PlacementRule.objects.create(
        placement=home,
        action="pin",
        item_key="1",
        position=1,
        note="Summer campaign: keep the bestseller first until the end of August",
    )
    PlacementRule.objects.create(
        placement=home,
        action="boost",
        category="Audio",
        weight=2.5,
        starts_at=timezone.now(),
        ends_at=timezone.now() + timedelta(days=30),
    )
    experiment = Experiment.objects.create(placement=home, name="For-you model against trending", status="running")
    for name, strategy in (("control", "trending"), ("model", "for_you")):
        variant = Variant.objects.create(experiment=experiment, name=name, strategy=strategy)
        for i in range(12):
            RecommendationList.objects.create(
                placement=home,
                variant=variant,
                visitor_key=f"{name}-visitor-{i:04d}",
                items=[{"key": str(k)} for k in range(8)],
                clicks=i % 3,
                add_to_carts=i % 2,
                purchases=i % 4 == 0,
            )
    FraudRule.objects.create(
        name="Big foreign order",
        condition="amount > 500 and ip_country != shipping_country",
        action="review",
        description="Large orders shipped abroad from another country's IP",
    )
    FraudListEntry.objects.create(
        kind="email",
        list="block",
        value="someone.with.a.very.long.address@example.com",
        note="Chargeback in 2025; the same card was used on three other accounts",
    )
    ChannelKey.create_with_key(name="Flagship store tills (POS integration, Berlin)", channel="store")
    conversation = Conversation.objects.create(
        visitor_key="v" * 32, user_key="7", status="handed_off", handoff_reason="asked for a human"
    )
    for i in range(63):
        Message.objects.create(
            conversation=conversation,
            sender="shopper" if i % 2 else "bot",
            text=f"Message {i}: " + "where is my parcel, it was due on Tuesday? " * (1 + i % 4),
        )
    kinds = [("fraud", "active"), ("fraud", "retired"), ("recommender", "ready")]
    for number, (kind, status) in enumerate(kinds, start=1):
        version = ModelVersion.objects.create(
            kind=kind,
            number=number,
            status=status,
            metrics={"roc_auc": 0.39973557306193974, "ndcg@10": 0.2154, "events": 113702, "labelled_orders": 563},
            params={"epochs": 30, "hidden": 64, "notes": "x" * 200},
        )
        TrainingRun.objects.create(
            kind=kind,
            version=version,
            status="succeeded",
            percent=100,
            epoch=20,
            total_epochs=30,
            loss=0.123,
            history=[{"epoch": e, "loss": 1 / e, "ndcg@10": 0.1 + e / 100} for e in range(1, 21)],
        )
    TrainingRun.objects.create(
        kind="intent",
        status="running",
        percent=40,
        epoch=4,
        total_epochs=10,
        loss=0.5,
        history=[{"epoch": e, "loss": 1 / e} for e in range(1, 5)],
    )
    return {"home": home, "experiment": experiment, "conversation": conversation}


def _admin_pages(page, base):
    """The ecom_ai changelists, one change page per model with data, and the custom pages."""
    page.goto(base + reverse("admin:app_list", args=["ecom_ai"]))
    hrefs = page.eval_on_selector_all("#content-main a[href]", "els => els.map(e => e.getAttribute('href'))")
    changelists = sorted({h.split("?")[0] for h in hrefs if re.fullmatch(r"/admin/ecom_ai/\w+/", h.split("?")[0])})
    pages = list(changelists)
    for changelist in changelists:
        page.goto(base + changelist)
        links = page.eval_on_selector_all(
            "#result_list tbody tr a[href]", "els => els.map(e => e.getAttribute('href'))"
        )
        change = next((h for h in links if h.startswith(changelist) and h.endswith("/change/")), None)
        if change:
            pages.append(change)
    return pages


def _check(page, url, name, folder, problems):
    page.goto(url)
    page.wait_for_load_state("load")
    found = page.evaluate(OVERFLOW_JS)
    page.screenshot(path=os.path.join(folder, re.sub(r"[^\w.-]+", "_", name).strip("_") + ".png"), full_page=True)
    if found["page"] > found["inner"] or found["boxes"]:
        problems.append(
            f"{name}: page {found['page']} px for a {found['inner']} px window; scrolling boxes {found['boxes']}"
        )
    return found


def test_every_ecom_ai_admin_page_fits_a_laptop_screen(staff_page, live_server, shop_data, screenshots):
    page = staff_page
    page.set_viewport_size(LAPTOP)
    base = live_server.url
    pages = _admin_pages(page, base)
    assert len([p for p in pages if p.endswith("/change/")]) >= 12, pages  # the data reaches most models
    experiment, home = shop_data["experiment"], shop_data["home"]
    pages += [
        reverse("admin:ecom_ai_overview"),
        reverse("admin:ecom_ai_fraud_fairness"),
        reverse("admin:ecom_ai_intent_report"),
        reverse("admin:ecom_ai_experiment_report", args=[experiment.pk]),
        reverse("admin:ecom_ai_experiment_change", args=[experiment.pk]),
        reverse("admin:ecom_ai_placement_preview", args=[home.pk]),
        reverse("admin:ecom_ai_placement_change", args=[home.pk]),
        reverse("admin:ecom_ai_conversation_change", args=[shop_data["conversation"].pk]),
        reverse("admin:ecom_ai_modelversion_train"),
        reverse("admin:ecom_ai_fraudrule_add"),
    ]
    from ecom_ai.models.marketing import Campaign

    pages += [reverse("admin:ecom_ai_campaign_report", args=[c.pk]) for c in Campaign.objects.all()[:1]]
    problems = []
    for url in pages:
        _check(page, base + url, url, screenshots, problems)
        assert not page.js_errors, (url, page.js_errors)
    assert not problems, "\n".join(problems) + f"\nscreenshots: {screenshots}"


def test_conversation_reply_box_is_next_to_the_latest_messages(staff_page, live_server, shop_data):
    page = staff_page
    page.set_viewport_size(LAPTOP)
    page.goto(live_server.url + reverse("admin:ecom_ai_conversation_change", args=[shop_data["conversation"].pk]))
    transcript = page.locator(".ecom-ai-transcript")
    box = transcript.bounding_box()
    assert box["height"] <= 0.6 * LAPTOP["height"]  # it scrolls inside its own box...
    assert transcript.evaluate("el => el.scrollTop + el.clientHeight >= el.scrollHeight - 2")  # ...from the end
    reply = page.locator(".field-reply textarea").bounding_box()
    assert reply["y"] + reply["height"] <= LAPTOP["height"] + 150  # the reply box is (almost) on the first screen
    assert reply["y"] > box["y"] + box["height"] - 5  # right under the transcript


def test_list_cells_cut_with_the_full_text_on_hover(staff_page, live_server, shop_data):
    from ecom_ai.models import FraudAssessment

    FraudAssessment.objects.update(email="a.customer.with.a.really.long.name@example-shop.com")
    page = staff_page
    page.set_viewport_size(LAPTOP)
    page.goto(live_server.url + reverse("admin:ecom_ai_fraudassessment_changelist"))
    email = page.locator("#result_list tbody tr").first.locator("td.field-email_short span")
    assert email.get_attribute("title") == "a.customer.with.a.really.long.name@example-shop.com"
    row = page.locator("#result_list tbody tr").first.bounding_box()
    assert row["height"] < 60  # one line per order, not a 240 px block


def test_sandbox_shop_pages_fit_a_phone(page, live_server, shop_data, screenshots):
    from shop.models import Category, Product

    page.set_viewport_size(PHONE)
    product = Product.objects.order_by("pk").first()
    category = Category.objects.order_by("pk").first()
    urls = [
        "/",
        reverse("shop:category", args=[category.slug]),
        reverse("shop:product", args=[product.slug]),
        reverse("shop:search") + "?q=a",
        reverse("shop:login"),
        reverse("shop:signup"),
    ]
    problems = []
    for url in urls:
        _check(page, live_server.url + url, "shop" + url, screenshots, problems)
    page.goto(live_server.url + reverse("shop:product", args=[product.slug]))
    page.locator("form[action*='/cart/add/'] button, form[action*='/cart/add/'] input[type=submit]").first.click()
    _check(page, live_server.url + reverse("shop:cart"), "shop/cart", screenshots, problems)

    from django.contrib.auth import get_user_model
    from django.test import Client

    from shop.models import Order

    order = Order.objects.exclude(user=None).order_by("pk").first()
    client = Client()
    client.force_login(get_user_model().objects.get(pk=order.user_id))
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    for url in ("/", reverse("shop:my_orders"), reverse("shop:order", args=[order.number]), reverse("shop:cart")):
        _check(page, live_server.url + url, "shop-customer" + url, screenshots, problems)
    assert not problems, "\n".join(problems) + f"\nscreenshots: {screenshots}"
