"""The default intent pack: its shape, and how a classifier trained on it routes messages it
has never seen (``routing_messages.json``: hand-written, 5 per intent, not in the pack).

Measured with the built-in encoder (training is seeded; same figures over repeated runs and
with 1 or 2 torch threads; see docs/chat.md): 78/90 (0.867) right top intent, 64/90 (0.711)
right *and* in scope with the default thresholds; the 269-example pack before it was
extended: 0.811 and 0.467. The bounds below leave 5–6 messages of margin.
"""

import json
from collections import Counter
from pathlib import Path

import pytest

from ecom_ai.chat.pack import read_pack

from .conftest import pack_examples

ROUTING = json.loads((Path(__file__).with_name("routing_messages.json")).read_text(encoding="utf-8"))["messages"]
MIN_TOP_INTENT_ACCURACY = 0.80
MIN_ROUTED_ACCURACY = 0.65  # right intent and not out of scope (CHAT_INTENT_THRESHOLD, similarity floor)


def test_pack_shape():
    pack = read_pack()
    names = [intent["name"] for intent in pack["intents"]]
    assert len(names) == len(set(names)) == 18
    owners = Counter()
    for intent in pack["intents"]:
        examples = intent["examples"]
        assert set(examples) == {"en", "zh"}, intent["name"]
        assert len(examples["en"]) >= 25 and len(examples["zh"]) >= 10, intent["name"]
        texts = [t.strip().lower() for ts in examples.values() for t in ts]
        assert len(texts) == len(set(texts)), f"duplicate example in {intent['name']}"
        owners.update(set(texts))
    assert not [t for t, n in owners.items() if n > 1], "the same example in two intents"


def test_routing_set_is_not_in_the_pack():
    assert set(ROUTING) == {intent["name"] for intent in read_pack()["intents"]}
    assert all(len(texts) == 5 for texts in ROUTING.values())
    pack_texts = {t.strip(" !?.").lower() for t in pack_examples()[0]}
    assert not [t for ts in ROUTING.values() for t in ts if t.strip(" !?.").lower() in pack_texts]


def test_default_pack_routes_unseen_messages(pack_classifier):
    texts = [t for ts in ROUTING.values() for t in ts]
    truth = [name for name, ts in ROUTING.items() for _ in ts]
    top = pack_classifier.predict_many(texts, threshold=0.0, min_similarity=-1.0)
    served = pack_classifier.predict_many(texts)  # the chat's thresholds (test settings = defaults)
    top_ok = sum(p.best_guess == t for p, t in zip(top, truth))
    routed_ok = sum(p.intent == t for p, t in zip(served, truth))
    misses = [(t, p.best_guess, text) for p, t, text in zip(top, truth, texts) if p.best_guess != t]
    assert top_ok / len(texts) >= MIN_TOP_INTENT_ACCURACY, misses
    assert routed_ok / len(texts) >= MIN_ROUTED_ACCURACY, (routed_ok, len(texts))
    # no intent is left behind: at least 2 of its 5 (3 measured for the weakest) messages get the right top intent
    per_intent = Counter(t for p, t in zip(top, truth) if p.best_guess == t)
    assert min(per_intent[name] for name in ROUTING) >= 2, per_intent


@pytest.mark.django_db
def test_load_pack_stores_every_example():
    from ecom_ai.chat.pack import load_pack
    from ecom_ai.models import IntentExample

    result = load_pack()
    assert result.intents_created == 18
    assert result.examples_created == IntentExample.objects.count() == len(pack_examples()[0])
