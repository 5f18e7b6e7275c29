"""Experiments (bucketing, variants served, report numbers) and attribution of outcomes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

import ecom_ai
from ecom_ai.events.tracking import record_batch
from ecom_ai.models import Experiment, Placement, RecommendationList, Variant
from ecom_ai.recommend.experiments import bucket, choose_variant, experiment_report, wilson_interval
from ecom_ai.recommend.service import Identity, RecommendationService, ensure_default_placements
from tests.recommend.conftest import key

pytestmark = pytest.mark.django_db
svc = RecommendationService()


class V:
    def __init__(self, name, weight):
        self.name, self.weight = name, weight


def test_bucketing_is_deterministic_and_follows_weights():
    variants = [V("a", 1), V("b", 3), V("off", 0)]
    assert bucket(7, "visitor-1") == bucket(7, "visitor-1")
    assert bucket(7, "visitor-1") != bucket(8, "visitor-1")
    picks = Counter(choose_variant(7, variants, f"v{i}").name for i in range(4000))
    assert set(picks) == {"a", "b"}
    assert 0.22 < picks["a"] / 4000 < 0.28
    assert all(
        choose_variant(7, variants, f"v{i}").name == choose_variant(7, variants, f"v{i}").name for i in range(50)
    )
    assert choose_variant(7, variants, "") is None
    assert choose_variant(7, [V("x", 0)], "v") is None


@pytest.fixture
def experiment(shop):
    ensure_default_placements()
    placement = Placement.objects.get(slug="home")
    exp = Experiment.objects.create(placement=placement, name="trending vs for you", status="running")
    Variant.objects.create(experiment=exp, name="control", weight=1, strategy="")
    Variant.objects.create(experiment=exp, name="trending", weight=1, strategy="trending")
    return exp


def test_visitors_see_their_variant_and_lists_record_it(experiment):
    seen = {}
    for i in range(40):
        recs = svc.recommend(Identity(visitor_key=f"vis{i}"), "home", limit=2)
        assert recs.variant is not None
        again = svc.recommend(Identity(visitor_key=f"vis{i}"), "home", limit=2)
        assert again.variant == recs.variant
        seen[recs.variant.name] = seen.get(recs.variant.name, 0) + 1
    assert set(seen) == {"control", "trending"}
    assert RecommendationList.objects.filter(variant__name="trending").count() == 2 * seen["trending"]


def test_only_one_running_experiment_per_placement(experiment):
    second = Experiment(placement=experiment.placement, name="another", status="running")
    with pytest.raises(ValidationError, match="already running"):
        second.full_clean()


def test_report_numbers_and_intervals(experiment):
    control, treatment = experiment.variants.order_by("pk")
    placement = experiment.placement

    def lists(variant, n, clicked, bought, revenue):
        for i in range(n):
            RecommendationList.objects.create(
                placement=placement,
                variant=variant,
                visitor_key=f"{variant.name}{i}",
                items=[{"key": "1"}],
                clicks=1 if i < clicked else 0,
                purchases=1 if i < bought else 0,
                revenue=Decimal(revenue) if i < bought else 0,
            )

    lists(control, 100, 10, 2, "50.00")
    lists(treatment, 50, 20, 5, "20.00")
    rows = {r.name: r for r in experiment_report(experiment)}
    c, t = rows["control"], rows["trending"]
    assert (c.impressions, c.clicked, c.converted) == (100, 10, 2)
    assert c.ctr == pytest.approx(0.10) and t.ctr == pytest.approx(0.40)
    assert c.ctr_ci == pytest.approx(wilson_interval(10, 100))
    assert c.ctr_ci[0] == pytest.approx(0.0552, abs=1e-3) and c.ctr_ci[1] == pytest.approx(0.1744, abs=1e-3)
    assert t.conversion == pytest.approx(0.10)
    assert c.revenue == pytest.approx(100.0) and c.revenue_per_impression == pytest.approx(1.0)
    # sample sd of [50, 50, 0 x 98] = sqrt((2*49^2 + 98*1^2)/99) ≈ 7.0
    assert c.revenue_ci[1] - 1.0 == pytest.approx(1.96 * 7.0 / 10, rel=0.01)


def test_click_with_rec_id_is_credited_to_that_list(shop, committed):
    recs = svc.recommend(Identity(visitor_key="v1"), "home", limit=3)
    clicked = recs.keys[1]
    with committed():
        ecom_ai.track("click", visitor_key="v1", item_key=clicked, context={"rec_id": str(recs.id)})
    svc.recommend(Identity(visitor_key="v1"), "home", limit=3)  # a later list showing the same item
    lst = RecommendationList.objects.get(pk=recs.id)
    assert lst.clicks == 1


def test_clicks_from_the_js_collector_batch_are_attributed(shop, rf, committed):
    recs = svc.recommend(Identity(visitor_key="v2"), "home", limit=3)
    request = rf.post("/")
    request.ecom_ai_visitor = "v2"
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    with committed():
        result = record_batch(
            [
                {
                    "event_type": "click",
                    "item_key": recs.keys[0],
                    "client_event_id": "c1",
                    "context": {"rec_id": str(recs.id), "placement": "home", "position": 1},
                }
            ],
            source="browser",
            request=request,
        )
    assert result.accepted == 1
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1


def test_add_to_cart_and_purchase_without_rec_id_go_to_the_last_list_showing_the_item(shop, committed):
    first = svc.recommend(Identity(visitor_key="v3"), "home", limit=3)
    second = svc.recommend(Identity(visitor_key="v3"), "home", limit=3)
    item = second.keys[0]
    with committed():
        ecom_ai.track("add_to_cart", visitor_key="v3", item_key=item)
        ecom_ai.track("purchase", visitor_key="v3", item_key=item, value="12.50", quantity=1)
    lst = RecommendationList.objects.get(pk=second.id)
    assert (lst.add_to_carts, lst.purchases, lst.revenue) == (1, 1, Decimal("12.50"))
    assert RecommendationList.objects.get(pk=first.id).purchases == 0


def test_no_credit_for_other_shoppers_items_not_shown_or_outside_the_window(shop, committed):
    recs = svc.recommend(Identity(visitor_key="owner"), "home", limit=3)
    with committed():
        # someone else replays the rec id
        ecom_ai.track("click", visitor_key="intruder", item_key=recs.keys[0], context={"rec_id": str(recs.id)})
        # an item the list did not show
        other = next(str(p.pk) for p in shop.values() if str(p.pk) not in recs.keys)
        ecom_ai.track("click", visitor_key="owner", item_key=other, context={"rec_id": str(recs.id)})
    # too late: the list was served 25 hours ago
    RecommendationList.objects.filter(pk=recs.id).update(created_at=timezone.now() - timedelta(hours=25))
    with committed():
        ecom_ai.track("click", visitor_key="owner", item_key=recs.keys[0], context={"rec_id": str(recs.id)})
        ecom_ai.track("purchase", visitor_key="owner", item_key=recs.keys[0], value="5")
        # a malformed rec id is ignored, not an error
        ecom_ai.track("view", visitor_key="owner", item_key=recs.keys[0], context={"rec_id": "nope"})
    assert RecommendationList.objects.get(pk=recs.id).clicks == 0


def test_a_variant_can_serve_a_specific_model_version(shop, rec_settings):
    from ecom_ai.ml.registry import train_model
    from tests.recommend.fake_trainer import PATH

    rec_settings(TRAINERS={"recommender": PATH})
    keys = [key(p) for p in shop.values()]
    old = train_model("recommender", {"item_keys": keys, "order": [key(shop[5])]})
    new = train_model("recommender", {"item_keys": keys, "order": [key(shop[6])]})
    assert new.status == "active"
    ensure_default_placements()
    exp = Experiment.objects.create(placement=Placement.objects.get(slug="home"), name="old vs new", status="running")
    Variant.objects.create(experiment=exp, name="old", weight=1, model_version=old)
    Variant.objects.create(experiment=exp, name="broken", weight=0)
    ecom_ai.track("view", visitor_key="vv", item_key=key(shop[9]))
    recs = svc.recommend(Identity(visitor_key="vv"), "home", limit=1)
    assert recs.variant.name == "old" and recs.keys == [key(shop[5])]
    assert RecommendationList.objects.get(pk=recs.id).model_version_id == old.pk


def test_lift_and_p_value_against_the_control(experiment):
    from ecom_ai.recommend.experiments import two_proportion_p_value

    control, treatment = experiment.variants.order_by("pk")
    for variant, n, clicked in ((control, 200, 20), (treatment, 200, 40)):
        RecommendationList.objects.bulk_create(
            [
                RecommendationList(
                    placement=experiment.placement,
                    variant=variant,
                    visitor_key=f"{variant.pk}-{i}",
                    items=[{"key": "1"}],
                    clicks=1 if i < clicked else 0,
                )
                for i in range(n)
            ]
        )
    first, second = experiment_report(experiment)
    assert first.ctr_lift is None and first.ctr_p_value is None
    assert second.ctr_lift == pytest.approx(1.0)
    # z = (0.2 - 0.1) / sqrt(0.15 * 0.85 * (2/200)) = 2.8006 -> p = 0.0051
    assert second.ctr_p_value == pytest.approx(0.0051, abs=2e-4)
    assert second.conversion_lift is None and second.conversion_p_value is None  # no conversions at all
    assert two_proportion_p_value(0, 0, 1, 10) is None


def test_user_data_export_and_erasure_include_served_lists(shop):
    from ecom_ai.events.identity import identify
    from ecom_ai.events.privacy import erase_user_data, export_user_data

    identify("mine", "55")
    recs = svc.recommend(Identity(visitor_key="mine", user_key="55"), "home", limit=2)
    other = svc.recommend(Identity(visitor_key="someone-else"), "home", limit=2)
    exported = export_user_data("55")["recommendation_lists"]
    assert [row["id"] for row in exported] == [str(recs.id)] and exported[0]["items"] == recs.keys
    counts = erase_user_data("55")
    assert counts["recommendation_lists_anonymised"] == 1
    mine = RecommendationList.objects.get(pk=recs.id)
    assert (mine.visitor_key, mine.user_key) == ("", "")
    assert RecommendationList.objects.get(pk=other.id).visitor_key == "someone-else"


@pytest.mark.celery
def test_attribution_runs_on_the_worker_after_the_commit(shop, celery_worker):
    """The event request only sends the task; the real worker credits the list."""
    import time

    recs = svc.recommend(Identity(visitor_key="w1"), "home", limit=3)
    ecom_ai.track("click", visitor_key="w1", item_key=recs.keys[0], context={"rec_id": str(recs.id)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not RecommendationList.objects.get(pk=recs.id).clicks:
        time.sleep(0.1)
    assert RecommendationList.objects.get(pk=recs.id).clicks == 1
