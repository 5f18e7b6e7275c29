"""The "offers" trainer through the registry: learns from logged decisions, gates on DR, serves."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
import torch
from django.utils import timezone

from ecom_ai.marketing.service import OfferService
from ecom_ai.marketing.simulation import simulated_customers, simulated_outcome
from ecom_ai.ml.registry import NotEnoughData, load_active, train_model
from ecom_ai.models import ModelVersion
from ecom_ai.models.marketing import Campaign, OfferDecision
from tests.marketing.conftest import who

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

FAST = {"epochs": 8, "pg_epochs": 8, "bootstrap": 60, "hidden": 32}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def log_history(campaign, n, seed=0):
    """``n`` settled decisions drawn uniformly over none/ten/ship, outcomes from the simulated world."""
    rng = random.Random(seed)
    offers = {o.key: o for o in campaign.offers.all()}
    arms = ["none", "ten", "ship"]
    start = timezone.now() - timedelta(days=120)
    rows = []
    for i, state in enumerate(simulated_customers(n, rng)):
        arm = rng.choice(arms)
        converted, value, discount = simulated_outcome(state, arm, rng)
        created = start + timedelta(minutes=i)
        rows.append(
            OfferDecision(
                campaign=campaign,
                offer=offers.get(arm),
                subject_key=f"u:sim-{i}",
                user_key=f"sim-{i}",
                propensity=1 / 3,
                probabilities={a: 1 / 3 for a in arms},
                policy="fixed",
                state=state,
                created_at=created,
                expires_at=created + timedelta(days=14),
                converted_at=created + timedelta(days=1) if converted else None,
                order_value=Decimal(str(value)) if converted else None,
                discount=Decimal(str(discount)),
            )
        )
    OfferDecision.objects.bulk_create(rows)


def test_too_few_decisions_is_not_enough_data(campaign):
    log_history(campaign, 50)
    with pytest.raises(NotEnoughData):
        train_model("offers", FAST)


def test_trains_gates_and_serves_a_learned_policy(campaign, settings, admin_client):
    campaign.offers.update(send_cost=Decimal("0"))
    log_history(campaign, 3000)
    version = train_model("offers", FAST)
    assert version.metrics["decisions"] == 3000 and version.metrics["campaigns"] == 1
    from ecom_ai.models import TrainingRun

    assert TrainingRun.objects.get(version=version).history  # per-epoch progress of the Q-network
    evaluation = version.validation["campaigns"][campaign.slug]
    assert set(evaluation["policies"]) == {"learned", "logging", "fixed:none", "fixed:ten", "fixed:ship"}
    for estimates in evaluation["policies"].values():
        assert set(estimates) == {"ips", "snips", "dr"}
        assert estimates["dr"]["low"] <= estimates["dr"]["value"] <= estimates["dr"]["high"]
    assert version.quality["checks"]  # the floor: decisions, beats logging and "no offer"
    if version.status != ModelVersion.Status.ACTIVE:  # below the floor: activate by hand for the serving part
        from ecom_ai.ml.registry import activate

        activate(version)
    assert load_active("offers").get(campaign.slug) is not None
    campaign.policy = Campaign.Policy.LEARNED
    campaign.exploration_rate = 0.2
    campaign.save()
    result = OfferService(rng=random.Random(1)).decide(who("fresh"), campaign)
    decision = OfferDecision.objects.get(pk=result.decision_id)
    assert decision.policy == "learned" and decision.model_version_id == version.pk
    assert min(decision.probabilities.values()) > 0  # exploration floor: every arm stays possible
    assert abs(sum(decision.probabilities.values()) - 1) < 1e-6
    # the batch path uses the same policy, vectorized
    from ecom_ai.marketing.batch import decide_batch
    from ecom_ai.marketing.state import Identity

    people = [(Identity(user_key=f"batch-{i}"), s) for i, s in enumerate(simulated_customers(200, random.Random(9)))]
    batch = decide_batch(campaign, people, rng=random.Random(2))
    assert batch.decided == 200
    rows = OfferDecision.objects.filter(batch=batch.batch)
    assert {d.policy for d in rows} == {"learned"} and all(min(d.probabilities.values()) > 0 for d in rows)
    # the admin report: OPE estimates of the version and the policy's Qini curve
    page = admin_client.get(f"/admin/ecom_ai/campaign/{campaign.pk}/report/").content.decode()
    assert f"offers v{version.number}" in page and "fixed:ten" in page
    if load_active("offers").get(campaign.slug).kind != "fixed":
        assert "<svg" in page and "Qini curve" in page


def test_a_corrupt_artifact_falls_back_to_the_fixed_offer(campaign):
    from ecom_ai.ml.artifacts import get_storage

    log_history(campaign, 600)
    version = train_model("offers", {**FAST, "min_decisions": 100})
    ModelVersion.objects.filter(pk=version.pk).update(status="active")
    storage = get_storage()
    with storage.open(version.artifact, "wb") as handle:
        handle.write(b"not a torch file")
    campaign.policy = Campaign.Policy.LEARNED
    campaign.save()
    result = OfferService(rng=random.Random(1)).decide(who("x"), campaign)
    assert result.arm == "ten" and "learned policy unavailable" in result.reasons[0]
