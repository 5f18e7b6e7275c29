"""A part of the scripted conversation suite (benchmarks/chat_conversations.py) through the
real widget in Chromium: every turn right, none without an answer unless staff holds it."""

import pytest

from benchmarks.chat_conversations import load_suite, run_conversation_in_browser, seed_shop
from ecom_ai.chat import retrieval
from ecom_ai.chat.service import _examples_signature, install_fallback_classifier

CONVERSATIONS = [
    "off-topic, hand-off and hand-back (en)",
    "logged-in shopper's orders (en)",
    "anonymous order look-up and shop questions (zh)",
    "product search with price limits (zh)",
]


@pytest.fixture
def suite_shop(transactional_db, pack_classifier, live_server, settings):
    from django.core.cache import cache

    from ecom_ai.ml.registry import clear_loaded_models
    from ecom_ai.recommend import service

    settings.ECOM_AI = {**settings.ECOM_AI, "CHAT_THROTTLE_RATE": None}  # every shopper here is 127.0.0.1
    cache.clear()
    service.clear_placement_cache()
    clear_loaded_models()
    placeholders = seed_shop()
    signature, _, _ = _examples_signature()
    install_fallback_classifier(pack_classifier, signature)
    retrieval.clear_indexes()
    yield live_server, placeholders
    install_fallback_classifier(None)
    retrieval.clear_indexes()
    service.clear_placement_cache()


@pytest.mark.browser
def test_scripted_conversations_through_the_widget(suite_shop, browser):
    server, placeholders = suite_shop
    chosen = [c for c in load_suite() if c["name"] in CONVERSATIONS]
    assert len(chosen) == len(CONVERSATIONS)
    results = []
    for conversation in chosen:
        results += run_conversation_in_browser(browser, server.url, conversation, placeholders)
    wrong = [f"[{r.conversation}] {r.text!r}: {'; '.join(r.problems)} | {r.answer[:80]!r}" for r in results if not r.ok]
    assert not wrong, "\n".join(wrong)
    assert len(results) >= 25  # 25 shopper turns
    assert all(r.answered or r.quiet_expected for r in results)
