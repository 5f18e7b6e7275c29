"""The chat widget in Chromium: a 390 px phone, staff replies between polls, buttons."""

from decimal import Decimal

import pytest

from ecom_ai.chat import retrieval
from ecom_ai.chat.pack import load_pack
from ecom_ai.chat.service import ChatService, _examples_signature, install_fallback_classifier
from ecom_ai.models import Conversation

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def live_chat(transactional_db, pack_classifier, live_server, settings):
    from django.core.cache import cache

    from ecom_ai.ml.registry import clear_loaded_models
    from ecom_ai.recommend import service

    cache.clear()
    service.clear_placement_cache()
    clear_loaded_models()
    load_pack(articles=True)
    signature, _, _ = _examples_signature()
    install_fallback_classifier(pack_classifier, signature)
    retrieval.clear_indexes()
    yield live_server
    install_fallback_classifier(None)
    retrieval.clear_indexes()
    service.clear_placement_cache()


@pytest.fixture
def shop_catalog(transactional_db):
    from shop.models import Category, Product

    shoes = Category.objects.create(name="Running and Trail Shoes", slug="running-trail-shoes")
    kitchen = Category.objects.create(name="Kitchen & Household Appliances", slug="kitchen")
    products = [
        Product.objects.create(
            category=shoes,
            title="Ultralight Waterproof Trail Running Shoes Pro Edition",
            slug="trail-shoes",
            price=Decimal("89.00"),
            stock=5,
            description="Supercalifragilisticexpialidocious-grip outsole for wet trails.",
        ),
        Product.objects.create(
            category=kitchen, title="Espresso Coffee Maker", slug="espresso", price=Decimal("149.00"), stock=2
        ),
    ]
    return products


def phone_page(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def layout(page) -> dict:
    return page.evaluate("""() => {
        const box = (sel) => { const el = document.querySelector(sel); if (!el) return null;
            const r = el.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
        return {scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth,
                inner: window.innerWidth, height: window.innerHeight,
                bubble: box('.ecom-ai-chat__bubble'), panel: box('.ecom-ai-chat__panel')};
    }""")


def assert_on_screen(box, view, what):
    assert box is not None, f"no {what}"
    assert box["left"] >= 0 and box["right"] <= view["inner"], f"{what} off-screen horizontally: {box}"
    assert box["top"] >= 0 and box["bottom"] <= view["height"], f"{what} off-screen vertically: {box}"


@pytest.mark.browser
def test_sandbox_pages_and_the_chat_fit_a_390px_phone(live_chat, shop_catalog, browser):
    page = phone_page(browser)
    paths = [
        "/",
        "/search/?q=shoes",
        "/cart/",
        "/account/login/",
        "/account/signup/",
        shop_catalog[0].get_absolute_url(),
        shop_catalog[0].category.get_absolute_url(),
    ]
    for path in paths:
        page.goto(live_chat.url + path)
        view = layout(page)
        assert view["inner"] == 390, f"{path}: the layout viewport is {view['inner']} px"
        assert view["scroll"] <= 390 and view["body"] <= 390, f"{path} is {view['scroll']} px wide on a 390 px screen"
        assert_on_screen(view["bubble"], view, f"chat bubble on {path}")
    page.click(".ecom-ai-chat__bubble")
    page.fill(".ecom-ai-chat__input", "what's the weather tomorrow")
    page.click(".ecom-ai-chat__send")
    page.locator(".ecom-ai-chat__suggestion").first.wait_for()
    view = layout(page)
    assert view["scroll"] <= 390
    assert_on_screen(view["panel"], view, "open chat panel")
    assert_on_screen(view["bubble"], view, "chat bubble with the panel open")


@pytest.mark.browser
def test_a_staff_reply_between_polls_is_never_skipped(live_chat, browser, django_user_model, settings):
    """Staff replies, then the shopper sends before the next poll: both messages show, in order."""
    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_POLL_SECONDS": 600}  # no poll during the test
    staff = django_user_model.objects.create_user("agent", "agent@example.com", "pw", is_staff=True)
    page = phone_page(browser)
    page.goto(live_chat.url + "/")
    page.click(".ecom-ai-chat__bubble")
    page.fill(".ecom-ai-chat__input", "I want to talk to a human")
    page.click(".ecom-ai-chat__send")
    page.locator(".ecom-ai-chat__waiting").wait_for(state="visible")
    ChatService.staff_reply(Conversation.objects.get(), staff, "Hi, Sam from customer service here.")
    page.fill(".ecom-ai-chat__input", "hello? anyone?")
    page.click(".ecom-ai-chat__send")
    page.locator(".ecom-ai-chat__msg--shopper", has_text="hello? anyone?").wait_for()
    senders = page.eval_on_selector_all(".ecom-ai-chat__log > li[data-id]", "els => els.map(e => e.className)")
    texts = page.eval_on_selector_all(
        ".ecom-ai-chat__log > li[data-id] .ecom-ai-chat__text", "els => els.map(e => e.textContent)"
    )
    assert "Hi, Sam from customer service here." in texts, texts
    assert texts.index("Hi, Sam from customer service here.") < texts.index("hello? anyone?")
    assert sum("--staff" in s for s in senders) == 1


@pytest.mark.browser
def test_buttons_answer_what_they_say(live_chat, browser):
    page = phone_page(browser)
    page.goto(live_chat.url + "/")
    page.click(".ecom-ai-chat__bubble")
    page.fill(".ecom-ai-chat__input", "今天天气怎么样")
    page.click(".ecom-ai-chat__send")
    page.locator(".ecom-ai-chat__suggestion", has_text="怎么退货？").click()
    page.locator(".ecom-ai-chat__msg--bot", has_text="30天").wait_for()
