import pytest

from ecom_ai.chat import retrieval
from ecom_ai.chat.classifier import fit_intent_classifier
from ecom_ai.chat.encoders import configured_encoder_spec
from ecom_ai.chat.pack import load_pack, read_pack
from ecom_ai.chat.service import _examples_signature, install_fallback_classifier

BUILTIN = {"kind": "builtin", "dim": 4096}


def pack_examples():
    texts, labels = [], []
    for intent in read_pack()["intents"]:
        for examples in intent["examples"].values():
            texts.extend(examples)
            labels.extend([intent["name"]] * len(examples))
    return texts, labels


@pytest.fixture(scope="session")
def pack_classifier():
    """The default pack's classifier with the built-in encoder, trained once per session.

    On one torch thread: the small head trains in ~1 s that way, against ~10 s with two
    threads contending on a busy 2-core machine (same weights either way)."""
    import torch

    texts, labels = pack_examples()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fit_intent_classifier(texts, labels, encoder_spec=BUILTIN)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def chat_pack(db, pack_classifier):
    """Default intents + sample articles in the database, the session classifier serving."""
    from django.core.cache import cache

    from ecom_ai.ml.registry import clear_loaded_models

    cache.clear()  # the registry caches the active version id in Django's cache
    load_pack(articles=True)
    assert configured_encoder_spec() == BUILTIN
    signature, _, _ = _examples_signature()
    install_fallback_classifier(pack_classifier, signature)
    clear_loaded_models()
    retrieval.clear_indexes()
    yield pack_classifier
    install_fallback_classifier(None)
    retrieval.clear_indexes()


@pytest.fixture
def shop(db):
    """Two shoppers with an order each, one guest order, a few catalog items."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from shop.models import Order

    from ecom_ai.models import Item

    User = get_user_model()
    alice = User.objects.create_user("alice", "alice@example.com", "pw")
    bob = User.objects.create_user("bob", "bob@example.com", "pw")
    alice_order = Order.objects.create(
        user=alice, email="alice@example.com", total=Decimal("59.90"), status="shipped", tracking_number="TRK-ALICE-1"
    )
    bob_order = Order.objects.create(
        user=bob, email="bob@example.com", total=Decimal("120.00"), status="paid", tracking_number="TRK-BOB-9"
    )
    guest_order = Order.objects.create(user=None, email="guest@example.com", total=Decimal("15.00"), status="delivered")
    Item.objects.create(
        key="1",
        title="Trail Running Shoes",
        text="Light running shoes for trails.",
        category="Shoes",
        price=Decimal("89.00"),
        url="/p/trail-running-shoes/",
    )
    Item.objects.create(
        key="2",
        title="Espresso Coffee Maker",
        text="Makes espresso and cappuccino.",
        category="Kitchen",
        price=Decimal("149.00"),
        url="/p/espresso/",
    )
    Item.objects.create(
        key="3",
        title="Wool Winter Coat",
        text="Warm coat for cold winters.",
        category="Clothing",
        price=Decimal("199.00"),
        in_stock=False,
        url="/p/coat/",
    )
    return {"alice": alice, "bob": bob, "alice_order": alice_order, "bob_order": bob_order, "guest_order": guest_order}
