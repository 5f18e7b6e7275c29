"""The chat bubble in a real headless Chromium against the sandbox shop."""

import pytest

from ecom_ai.chat import retrieval
from ecom_ai.chat.pack import load_pack
from ecom_ai.chat.service import _examples_signature, install_fallback_classifier


@pytest.fixture
def live_chat(transactional_db, pack_classifier, live_server):
    from ecom_ai.ml.registry import clear_loaded_models

    from django.core.cache import cache

    cache.clear()  # the registry caches the active version id in Django's cache
    clear_loaded_models()  # no intent version from an earlier test: the pack classifier serves
    load_pack(articles=True)
    signature, _, _ = _examples_signature()
    install_fallback_classifier(pack_classifier, signature)
    retrieval.clear_indexes()
    yield live_server
    install_fallback_classifier(None)
    retrieval.clear_indexes()


@pytest.mark.browser
def test_chat_bubble_answers_escapes_and_keeps_history_across_pages(live_chat, page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(live_chat.url + "/")
    page.click(".ecom-ai-chat__bubble")
    page.fill(".ecom-ai-chat__input", "how do I return an item?")
    page.click(".ecom-ai-chat__send")
    bot = page.locator(".ecom-ai-chat__msg--bot", has_text="30 days")
    try:
        bot.wait_for()
    except Exception:
        raise AssertionError("no answer; the chat shows: " + page.locator("#ecom-ai-chat").inner_text()) from None
    assert "Returns" in bot.locator(".ecom-ai-chat__sources").inner_text()

    page.fill(".ecom-ai-chat__input", "<img src=x onerror=alert(1)> hello")
    page.click(".ecom-ai-chat__send")
    shopper = page.locator(".ecom-ai-chat__msg--shopper", has_text="<img src=x onerror=alert(1)> hello")
    shopper.wait_for()
    assert page.locator(".ecom-ai-chat__log img").count() == 0
    assert dialogs == []

    # another page: the panel opens again with the conversation so far
    page.goto(live_chat.url + "/")
    page.locator(".ecom-ai-chat__msg--bot", has_text="30 days").wait_for()
    assert page.locator(".ecom-ai-chat__msg--shopper").count() == 2
