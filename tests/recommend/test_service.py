"""RecommendationService: strategies, fallbacks, real-time history, models from the registry."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

import ecom_ai
from ecom_ai import signals
from ecom_ai.ml.registry import activate, train_model
from ecom_ai.models import Event, ModelVersion, Placement, RecommendationList
from ecom_ai.recommend import cooccurrence
from ecom_ai.recommend.service import (
    Identity,
    RecommendationError,
    RecommendationService,
    UnknownPlacement,
    ensure_default_placements,
)
from tests.recommend.conftest import key
from tests.recommend.fake_trainer import PATH as FAKE_TRAINER

pytestmark = pytest.mark.django_db
svc = RecommendationService()


def test_fresh_shop_without_events_gets_new_arrivals_and_the_list_is_logged(shop):
    served = []

    def receiver(sender, recommendation, **kwargs):
        served.append(recommendation)

    signals.recommendations_served.connect(receiver)
    try:
        recs = svc.recommend(Identity(visitor_key="v1"), "home", limit=5)
    finally:
        signals.recommendations_served.disconnect(receiver)
    assert len(recs.items) == 5
    assert all(reason == "New arrival" for _, _, reason in recs.items)
    assert key(shop[4]) not in recs.keys  # out of stock
    assert Placement.objects.filter(slug="home").exists()  # created on first use
    stored = RecommendationList.objects.get(pk=recs.id)
    assert stored.item_keys == recs.keys and stored.visitor_key == "v1"
    impression = Event.objects.get(event_type="impression")
    assert impression.context["rec_id"] == str(recs.id) and impression.visitor_key == "v1"
    assert served == [recs]
    # host objects in the same order, annotated
    assert [str(p.pk) for p in recs.products] == recs.keys
    assert recs.products[0].ecom_ai_rec_id == str(recs.id) and recs.products[0].ecom_ai_reason == "New arrival"


def test_also_bought_live_from_the_event_log_before_any_training(co_bought):
    shop = co_bought
    recs = svc.recommend(Identity(visitor_key="new"), "product", item=shop[1], limit=4)
    assert recs.keys[:2] == [key(shop[2]), key(shop[3])]
    assert recs.items[0].reason == "Customers who bought Item 1 also bought this"
    assert key(shop[1]) not in recs.keys  # the page's own item
    assert len(recs.keys) == 4  # filled up by the fallbacks (trending)
    assert recs.items[2].reason in ("Trending now", "New arrival") or "viewed" in recs.items[2].reason


def test_trained_cooccurrence_table_is_used_and_picked_up_from_the_registry(co_bought, rec_settings, monkeypatch):
    shop = co_bought
    rec_settings()
    version = train_model("cooccurrence")
    assert version.status == ModelVersion.Status.ACTIVE
    assert version.metrics["items"] >= 4

    def no_live(*args, **kwargs):
        raise AssertionError("the trained table should answer")

    monkeypatch.setattr(cooccurrence, "live_neighbors", no_live)
    recs = svc.recommend(Identity(visitor_key="new"), "product", item=key(shop[1]), limit=2)
    assert recs.keys == [key(shop[2]), key(shop[3])]


def test_unknown_item_gets_a_fallback_list(shop):
    recs = svc.recommend(Identity(visitor_key="x"), "product", item="no-such-item", limit=3)
    assert len(recs.keys) == 3


@pytest.mark.parametrize("limit", [0, -1, 51, "abc", 2.5, True])
def test_bad_limits_are_refused(shop, limit):
    with pytest.raises(RecommendationError, match="limit"):
        svc.recommend(Identity(visitor_key="x"), "home", limit=limit)


def test_unknown_placement_is_refused_with_the_known_ones(shop):
    with pytest.raises(UnknownPlacement, match="known placements: .*home"):
        svc.recommend(Identity(visitor_key="x"), "sidebar")


def test_too_long_item_key_is_refused(shop):
    with pytest.raises(RecommendationError, match="item"):
        svc.recommend(Identity(visitor_key="x"), "product", item="x" * 300)


def test_disabled_placement_serves_nothing(shop):
    ensure_default_placements()
    placement = Placement.objects.get(slug="home")
    placement.enabled = False
    placement.save()
    assert svc.recommend(Identity(visitor_key="x"), "home").items == []


def _fake_model(rec_settings, shop, order):
    rec_settings(
        TRAINERS={"recommender": FAKE_TRAINER, "cooccurrence": "ecom_ai.recommend.cooccurrence.CooccurrenceTrainer"}
    )
    keys = [key(p) for p in shop.values()]
    return train_model("recommender", {"item_keys": keys, "order": [key(shop[n]) for n in order]})


def test_reacts_to_the_visitors_latest_events_in_real_time(shop, rec_settings):
    version = _fake_model(rec_settings, shop, [7, 6, 5, 12])
    assert version.status == ModelVersion.Status.ACTIVE
    visitor = Identity(visitor_key="anon-1")
    before = svc.recommend(visitor, "home", limit=3)
    assert all(
        r in ("Trending now", "New arrival") for _, _, r in before.items
    )  # no history: the model has nothing to go on

    ecom_ai.track("view", visitor_key="anon-1", item_key=key(shop[9]))
    after = svc.recommend(visitor, "home", limit=3)
    assert after.keys == [key(shop[7]), key(shop[6]), key(shop[5])]
    assert after.items[0].reason == "Picked for you from your recent activity"
    stored = RecommendationList.objects.get(pk=after.id)
    assert stored.model_version_id == version.pk and stored.strategy.startswith("for_you")


def test_logged_in_user_history_from_another_channel_counts(shop, rec_settings):
    _fake_model(rec_settings, shop, [8, 7])
    ecom_ai.track("purchase", channel="store", visitor_key="card-1", user_key="42", item_key=key(shop[1]))
    recs = svc.recommend(Identity(visitor_key="web-cookie", user_key="42"), "home", limit=2)
    assert recs.keys == [key(shop[8]), key(shop[7])]


def test_corrupt_or_missing_artifact_falls_back(shop, rec_settings):
    version = _fake_model(rec_settings, shop, [7, 6, 5])
    ecom_ai.track("view", visitor_key="v", item_key=key(shop[9]))
    with default_storage.open(version.artifact, "wb") as fh:
        fh.write(b"not a torch file")
    from ecom_ai.ml.registry import clear_loaded_models

    clear_loaded_models()
    recs = svc.recommend(Identity(visitor_key="v"), "home", limit=3)
    assert len(recs.keys) == 3 and recs.items[0].reason != "Picked for you from your recent activity"
    default_storage.delete(version.artifact)
    clear_loaded_models()
    assert len(svc.recommend(Identity(visitor_key="v"), "home", limit=3).keys) == 3


def test_a_newly_activated_version_is_served_without_restart(shop, rec_settings):
    first = _fake_model(rec_settings, shop, [7, 6])
    ecom_ai.track("view", visitor_key="v", item_key=key(shop[9]))
    assert svc.recommend(Identity(visitor_key="v"), "home", limit=1).keys == [key(shop[7])]
    second = train_model("recommender", {"item_keys": first.params["item_keys"], "order": [key(shop[5])]})
    assert second.status == ModelVersion.Status.ACTIVE
    assert svc.recommend(Identity(visitor_key="v"), "home", limit=1).keys == [key(shop[5])]
    activate(ModelVersion.objects.get(pk=first.pk))
    assert svc.recommend(Identity(visitor_key="v"), "home", limit=1).keys == [key(shop[7])]


def test_cart_placement_completes_the_cart(co_bought):
    shop = co_bought
    ecom_ai.track("add_to_cart", visitor_key="c", item_key=key(shop[1]))
    recs = svc.recommend(Identity(visitor_key="c"), "cart", limit=2)
    assert recs.keys[0] == key(shop[2])
    assert key(shop[1]) not in recs.keys


def test_no_identity_still_gets_a_list_but_logs_no_impression(shop):
    recs = svc.recommend(None, "home", limit=2)
    assert len(recs.keys) == 2
    assert not Event.objects.filter(event_type="impression").exists()


def test_model_calls_run_with_one_torch_thread_and_restore_the_setting(shop, rec_settings, monkeypatch):
    import torch

    from tests.recommend.conftest import FakeRecommender

    seen = []

    class ThreadRecorder(FakeRecommender):
        def recommend(self, history, k, exclude=()):
            seen.append(torch.get_num_threads())
            return super().recommend(history, k, exclude)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = ThreadRecorder([key(p) for p in shop.values()])
        monkeypatch.setattr("ecom_ai.recommend.versions.active", lambda kind: model if kind == "recommender" else None)
        ecom_ai.track("view", visitor_key="t", item_key=key(shop[1]))
        svc.recommend(Identity(visitor_key="t"), "home", limit=2)
        assert seen == [1] and torch.get_num_threads() == 2
        rec_settings(RECOMMEND_INFERENCE_THREADS=None)
        svc.recommend(Identity(visitor_key="t"), "home", limit=2)
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(before)
